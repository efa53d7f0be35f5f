"""bot.slots: turns compute one at a time, give the slot back while they wait, and come back ahead of new turns."""

from __future__ import annotations

import threading
import time

import pytest

from bot.slots import TURNS, Slots


def test_one_turn_computes_at_a_time_and_the_block_is_reentrant() -> None:
    slots = Slots(1)
    inside, most = 0, 0
    lock = threading.Lock()

    def turn() -> None:
        nonlocal inside, most
        with slots.held():
            with slots.held():  # a turn that finishes an earlier run keeps its slot
                with lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.01)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=turn) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert most == 1


def test_a_waiting_turn_lets_another_compute() -> None:
    slots = Slots(1)
    order: list[str] = []
    waiting = threading.Event()

    def slow() -> None:
        with slots.held():
            order.append("slow starts")
            with slots.waiting():  # e.g. the LLM writing
                waiting.set()
                time.sleep(0.2)
            order.append("slow ends")

    def quick() -> None:
        assert waiting.wait(5)
        with slots.held():
            order.append("quick")

    threads = [threading.Thread(target=slow), threading.Thread(target=quick)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert order == ["slow starts", "quick", "slow ends"]


def test_a_turn_back_from_its_wait_goes_before_turns_not_yet_begun() -> None:
    slots = Slots(1)
    order: list[str] = []
    gate = threading.Event()

    def under_way() -> None:
        with slots.held():
            with slots.waiting():
                gate.wait(5)
            order.append("under way")

    def new(name: str) -> None:
        with slots.held():
            order.append(name)

    first = threading.Thread(target=under_way)
    first.start()
    time.sleep(0.05)
    with slots.held():  # the slot is busy while the turn comes back and new turns arrive
        gate.set()
        time.sleep(0.05)
        later = [threading.Thread(target=new, args=(f"new {i}",)) for i in range(3)]
        for t in later:
            t.start()
        time.sleep(0.05)
    for t in [first, *later]:
        t.join(5)
    assert order[0] == "under way" and sorted(order[1:]) == ["new 0", "new 1", "new 2"]


def test_waiting_outside_a_turn_and_each_over_a_stream() -> None:
    slots = Slots(1)
    with slots.waiting():  # not in a turn: nothing to give back
        assert not slots.holding()
    with slots.held():
        assert list(slots.each(iter("abc"))) == ["a", "b", "c"]
        assert slots.holding()
    with pytest.raises(ValueError):
        Slots(0)


def test_llm_waits_free_the_worker_for_other_turns(make_engine) -> None:  # type: ignore[no-untyped-def]
    """Real engine, stub LLM with 1 s latency: four turns at once take about one latency, not four. (The latency is
    long beside a turn's own work so that a loaded CI machine — turns computing at a fraction of their speed — does
    not blur the difference: 0.3 s once measured 0.98 s for four overlapping turns there.)"""
    from bot.llm.stub import StubLLM

    latency = 1.0
    engine = make_engine()
    engine.deps.llm = StubLLM(latency)  # type: ignore[assignment]
    conversations = [engine.start("cust-1") for _ in range(4)]
    engine.turn(conversations[0], "hi")  # warm
    assert TURNS.n == 1
    started = time.perf_counter()
    threads = [threading.Thread(target=engine.turn, args=(c, "how long do refunds take?")) for c in conversations]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert time.perf_counter() - started < latency * 2  # one after another: 4 latencies
