"""The handoff summary written by the embedded model (Qwen2.5-Coder-0.5B via xllamacpp), checked against the transcript.

The 0.5B model may fail to write an acceptable summary; the test does not require it to, only that whatever comes
back is true to the conversation. It prints whether the model's text was kept and what it cost.
"""

from __future__ import annotations

import time

import pytest

from bot.config import load_settings
from bot.handoff import build_package
from bot.summary import check_against_transcript, summarize

pytestmark = pytest.mark.llm

SHIPPED = ("Order A10002 has shipped with UPS (tracking number 1Z4C60490313117828) and is expected to arrive on"
           " November 22, 2026.")


@pytest.fixture(scope="session")
def real_llm():
    from bot.llm import connect

    return connect(load_settings(env={}, dotenv_path=None))  # the embedded default (the server is shared)


def test_the_model_summary_of_a_handoff_is_true_to_the_transcript(real_llm, policies, capsys):
    state = {
        "conversation_id": "c-real", "channel": "chat",
        "customer": {"id": "cust-1", "name": "Alice Martin", "tier": "gold", "language": "en", "known": True},
        "intents": ["order_status"], "understanding": {"intent": "human_request", "sentiment": -0.3},
        "facts": {"order_ids": ["A10002"]},
        "actions_taken": [{"turn": 1, "tool": "get_order", "args": {"order_id": "A10002"}, "ok": True,
                           "code": "found", "result": SHIPPED}],
        "transcript": [
            {"role": "customer", "text": "where is my order A10002?", "turn": 1},
            {"role": "bot", "text": SHIPPED, "turn": 1, "sentiment": 0.0},
            {"role": "customer", "text": "it was supposed to be here already, can I talk to a person please",
             "turn": 2},
        ],
        "events": [], "turn": 2, "message": "it was supposed to be here already, can I talk to a person please",
    }
    handoff = {"reason": "customer_request", "evidence": 'asked for a person: "can I talk to a person"', "turn": 2}
    package = build_package(state, handoff, time.time(), policies.handoff)

    started = time.perf_counter()
    written = summarize(real_llm, package, policies.rails.output)
    seconds = time.perf_counter() - started

    assert written.text and not check_against_transcript(written.text, package, policies.rails.output)
    if written.source == "llm":
        assert not written.problems
        assert "A10002" in written.text or "order" in written.text.lower(), written.text
    else:
        assert written.text == package["summary"]
    with capsys.disabled():
        verdict = "accepted" if written.source == "llm" else f"refused {list(written.problems)}"
        print(f"\n  0.5B handoff summary in {seconds:.1f} s, {verdict}: {written.text!r}")
