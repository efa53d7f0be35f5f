"""Crash recovery in one process, on both databases: a run cut mid-way (the worker died while the LLM was writing)
is finished from its checkpoint — by the message's retry or by the recovery sweep — and the customer's message is
neither lost nor answered twice. (tests/web/test_faults.py kills real worker processes.)"""

from __future__ import annotations

import socket

import pytest

from tests.fakes import FakeLLM


class Killed(BaseException):
    """Stands for the process dying: nothing in the bot catches it, like SIGKILL."""


def _dies_once(answer: str = "Refunds take 5 to 7 business days."):
    calls = []

    def reply(messages):
        calls.append(messages)
        if len(calls) == 1:
            raise Killed()
        return answer

    return reply, calls


def _cut_turn(engine, conv: str, text: str, message_id: str) -> None:
    with pytest.raises(Killed):
        engine.turn(conv, text, message_id=message_id)


def _roles(engine, conv):
    return [(m["role"], m["text"]) for m in engine.db.transcript(conv)]


def test_a_retry_finishes_the_cut_run_and_answers_once(make_engine, settings_on):
    reply, calls = _dies_once()
    worker = make_engine(FakeLLM(reply=reply), settings_on)
    conv = worker.start("cust-1")
    _cut_turn(worker, conv, "how long do refunds take?", "m-00000001")
    assert worker.db.transcript(conv) == []  # nothing answered yet: the log is written when a run ends
    survivor = make_engine(FakeLLM(reply=reply), settings_on)  # another worker on the same database
    result = survivor.turn(conv, "how long do refunds take?", message_id="m-00000001")
    assert "5 to 7" in result.reply
    again = survivor.turn(conv, "how long do refunds take?", message_id="m-00000001")  # the client retries again
    assert again.reply == result.reply and again.source == "replayed"
    assert len(calls) == 2  # the cut call and the one that finished the run; the replay asked nothing
    assert [r for r, _ in _roles(survivor, conv)] == ["customer", "bot"]
    nxt = survivor.turn(conv, "thanks! and where is my order A10002?", message_id="m-00000002")
    assert nxt.reply and [r for r, _ in _roles(survivor, conv)] == ["customer", "bot", "customer", "bot"]


def test_the_sweep_finishes_a_cut_run_without_the_customer_writing_again(make_engine, settings_on):
    reply, calls = _dies_once()
    worker = make_engine(FakeLLM(reply=reply), settings_on)
    conv = worker.start("cust-1")
    _cut_turn(worker, conv, "how long do refunds take?", "m-00000001")
    with worker.db.transaction() as conn:  # the dead worker's lease, as a killed process leaves it
        conn.execute("INSERT INTO turn_locks (conversation_id, owner, expires_at) VALUES (?, ?, ?)",
                     (conv, f"{socket.gethostname()}:999999999:1", 4e9))
    survivor = make_engine(FakeLLM(reply=reply), settings_on)
    assert survivor.recover() == [conv]
    assert survivor.recover() == []  # done once
    assert [r for r, _ in _roles(survivor, conv)] == ["customer", "bot"]
    assert "5 to 7" in _roles(survivor, conv)[1][1]
    retried = survivor.turn(conv, "how long do refunds take?", message_id="m-00000001")  # the page retries late
    assert retried.source == "replayed" and len(calls) == 2
    assert len(survivor.db.transcript(conv)) == 2


def test_a_new_message_after_a_cut_run_gets_both_answers_in_order(make_engine, settings_on):
    reply, _ = _dies_once()
    worker = make_engine(FakeLLM(reply=reply), settings_on)
    conv = worker.start("cust-1")
    _cut_turn(worker, conv, "how long do refunds take?", "m-00000001")
    result = worker.turn(conv, "and can I change my delivery address?", message_id="m-00000002")
    assert result.reply
    roles = [r for r, _ in _roles(worker, conv)]
    assert roles == ["customer", "bot", "customer", "bot"]  # the cut message was answered first, not dropped


def test_a_handoff_cut_mid_way_is_queued_exactly_once(make_engine, settings_on):
    """Killed while the handoff notes were being written (after the package was queued): the retry finishes the
    run, and the queue holds one handoff with the whole package."""
    state = {"died": False}

    def summary(messages):
        if not state["died"]:
            state["died"] = True
            raise Killed()
        return "The customer asked for a person."

    worker = make_engine(FakeLLM(summary=summary), settings_on)
    conv = worker.start("cust-1")
    worker.turn(conv, "where is my order A10002", message_id="m-00000001")
    with pytest.raises(Killed):
        worker.turn(conv, "I want to talk to a human", message_id="m-00000002")
    survivor = make_engine(FakeLLM(summary=summary), settings_on)
    result = survivor.turn(conv, "I want to talk to a human", message_id="m-00000002")
    assert result.handoff and result.handoff_reason == "customer_request"
    with survivor.db.reading() as conn:
        rows = conn.execute("SELECT status, reason FROM handoffs WHERE conversation_id = ?", (conv,)).fetchall()
    assert [tuple(r) for r in rows] == [("waiting", "customer_request")]
    assert survivor.waiting_for_human(conv)
    assert [r for r, _ in _roles(survivor, conv)].count("customer") == 2


def test_a_tool_that_ran_before_the_cut_is_not_run_again(make_engine, settings_on, monkeypatch):
    """The run is checkpointed after each tool run (a safe point): finishing it never runs the tool twice."""
    from bot import tools

    ran: list[str] = []
    real = tools.run
    monkeypatch.setattr(tools, "run", lambda name, *args, **kw: (ran.append(name), real(name, *args, **kw))[1])
    worker = make_engine(FakeLLM(), settings_on)
    dead = []

    class DiesOnce:  # an output check the process dies in, after the tool ran
        def check(self, text, grounding=None):
            dead.append(True)
            raise Killed()

    def unless_dead(write):  # a killed process writes nothing more (LangGraph would save on its way out)
        return lambda config, *args, **kw: config if dead else write(config, *args, **kw)

    monkeypatch.setattr(worker.checkpointer, "put", unless_dead(worker.checkpointer.put))
    monkeypatch.setattr(worker.checkpointer, "put_writes", unless_dead(worker.checkpointer.put_writes))
    worker.deps.output_checks = [DiesOnce(), *worker.deps.output_checks]
    conv = worker.start("cust-1")
    _cut_turn(worker, conv, "where is my order A10002?", "m-00000001")
    assert ran == ["get_order"]
    survivor = make_engine(FakeLLM(), settings_on)
    result = survivor.turn(conv, "where is my order A10002?", message_id="m-00000001")
    assert "A10002" in result.reply
    assert ran == ["get_order"]  # not again
