"""graphs.steps.sequence: nodes run as one step behave as the same nodes joined by edges."""

from __future__ import annotations

import operator

from graphs.steps import REDUCERS, sequence, stop_if


def test_each_node_sees_the_earlier_updates_and_lists_accumulate() -> None:
    seen: list[tuple[int, int]] = []

    def first(state, runtime):
        return {"turn": state["turn"] + 1, "transcript": [{"role": "customer", "text": "hi"}]}

    def second(state, runtime):
        seen.append((state["turn"], len(state["transcript"])))
        return {"turn": state["turn"] * 10, "transcript": [{"role": "bot", "text": "hello"}]}

    step = sequence(first, second)
    update = step({"turn": 1, "transcript": [{"role": "bot", "text": "earlier"}]}, None)
    assert seen == [(2, 2)]  # the first node's update applied, its transcript line appended
    assert update == {"turn": 20, "transcript": [{"role": "customer", "text": "hi"}, {"role": "bot", "text": "hello"}]}
    assert REDUCERS["transcript"] is operator.add and {"events", "intents"} <= set(REDUCERS) and "turn" not in REDUCERS
    assert step.__name__ == "first_second"


def test_stop_if_skips_the_rest_when_it_holds() -> None:
    def check(state, runtime):
        return {"blocked": state["message"] == "bad"}

    def answer(state, runtime):
        return {"reply": "ok"}

    step = sequence(check, stop_if(lambda state: state["blocked"]), answer)
    assert step({"message": "bad"}, None) == {"blocked": True}
    assert step({"message": "fine"}, None) == {"blocked": False, "reply": "ok"}
