"""`bot agent delegate | take-back | assist kb`, the desk's `delegate`, `takeback` and `kb`, and who acts in `show`
(operating mode, cohort, the orchestrator's reasoning, the AI holding or on a task), in-process over conversations
handed off by an Engine in the test (the fixtures of tests/bot/test_agent_cli_inprocess.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.bot import test_agent_cli_inprocess as base
from tests.bot.test_agent_cli_inprocess import agent, flat, one_error
from tests.graphs.test_modes import _policies

cli_env, handed_off = base.cli_env, base.handed_off  # the fixtures, shared with that file
ASK_ORDER = "Could you give me your order number?"  # guardrails/messages.yaml clarify.order_id


@pytest.fixture
def guest(cli_env, make_engine, fake_llm):
    """A guest (no order, no e-mail on file) who asked for a person: the AI has something to collect."""
    engine = make_engine(fake_llm)
    conv = engine.start(None)
    result = engine.turn(conv, "I want to talk to a human")
    assert result.handoff and result.handoff_reason == "customer_request"
    return engine, conv


def test_delegate_prints_the_question_and_the_ai_gives_the_conversation_back_with_the_result(guest):
    engine, conv = guest
    result = agent("delegate", conv, "order_details")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert f"the AI asked the customer: {ASK_ORDER}" in text
    # a guest: the order is looked up with the e-mail it was placed with, so the AI collects both
    assert "collecting order id, email address, then runs get_order" in text and "back to sam" in text
    assert engine.state(conv)["delegation"]["agent"] == "sam"
    assert engine.queue.get(conv).claimed_by == "sam"  # a waiting handoff is claimed for the agent first
    assert engine.db.transcript(conv)[-1]["text"].startswith(ASK_ORDER)  # the customer was really asked

    shown = flat(agent("show", conv).stdout)
    assert "mode ai_first (cohort default)" in shown
    assert "the AI is on a task (order_details for sam): collecting order id, email address" in shown
    package = json.loads(agent("show", conv, "--json").stdout)
    assert package["operating_mode"] == "ai_first" and package["cohort"] == "default"
    assert package["delegation"]["task"] == "order_details"
    assert package["delegation"]["missing"] == ["order_id", "email"]
    assert package["holding"] is False

    engine.turn(conv, "it's A10038")  # the customer answers: the AI looks the order up and gives it back
    engine.turn(conv, "jordan.lee@example.net")
    shown = flat(agent("show", conv).stdout)
    assert "on a task" not in shown and "get_order" in shown
    assert json.loads(agent("show", conv, "--json").stdout)["delegation"] is None
    assert engine.queue.get(conv).claimed_by == "sam"


def test_take_back_stops_the_task(guest):
    engine, conv = guest
    assert agent("delegate", conv, "contact_email").exit_code == 0
    back = agent("take-back", conv)
    assert back.exit_code == 0, back.stderr
    assert flat(back.stdout) == f"{conv}: the AI's task is stopped; the conversation is yours"
    assert engine.state(conv)["delegation"] is None
    one_error(agent("take-back", conv), f"the AI has no task in conversation {conv}")


@pytest.mark.parametrize("args, who, fragment", [
    (("delegate", "{conv}", "fetch"), None,
     "unknown task 'fetch'; guardrails/modes.yaml delegation has: contact_email, order_and_email, order_details"),
    (("delegate", "{conv}", "order_details"), "kim", "is claimed by sam, not kim"),
    (("take-back", "{conv}"), "kim", "is claimed by sam, not kim"),
    (("delegate", "c-nope", "order_details"), None, "conversation c-nope has no open handoff"),
    (("assist", "kb", "c-nope", "refunds"), None, "no handoff for conversation c-nope"),
])
def test_delegation_mistakes_are_one_error_line(guest, args, who, fragment):
    engine, conv = guest
    assert agent("claim", conv).exit_code == 0
    one_error(agent(*(a.format(conv=conv) for a in args), who=who), fragment)
    assert not engine.state(conv).get("delegation")  # nothing was given to the AI


def test_a_task_with_nothing_to_collect_is_refused(handed_off):
    _, conv = handed_off  # Alice named A10002 before asking for a person
    one_error(agent("delegate", conv, "order_details"), "already has order_id: nothing for the AI to collect")


def test_assist_kb_prints_passages_or_says_there_are_none(handed_off):
    engine, conv = handed_off
    found = agent("assist", "kb", conv, "how", "long", "do", "refunds", "take?")
    assert found.exit_code == 0, found.stderr
    text = flat(found.stdout)
    [best, *_] = engine.deps.kb.search("how long do refunds take?", 3)
    assert f"1. {best.title} (score {best.score:.2f})" in text and f"source: {best.source}" in text
    assert "refund" in text.lower()
    nothing = agent("assist", "kb", conv, "zqxv", "plugh")
    assert nothing.exit_code == 0 and flat(nothing.stdout) == "nothing in the knowledge base above the threshold"


def test_the_desk_delegates_takes_back_and_looks_up(guest):
    engine, conv = guest
    engine.turn(conv, "how long do refunds take?")  # the customer's last message: what `kb` looks up by default
    session = "\n".join([
        "kb",                          # nothing selected yet
        "claim 1",
        "help",
        "delegate",                    # which tasks there are
        "delegate fetch",
        "delegate order_details",
        "show",
        "takeback",
        "takeback",
        "kb",
        "kb zqxv plugh",
        "quit",
    ]) + "\n"
    result = agent("desk", input=session)
    assert result.exit_code == 0, (result.stdout[-3000:], result.stderr)
    text = flat(result.stdout)
    for fragment in ("error: no conversation selected",
                     "kb [query] | delegate <task> | takeback",
                     "error: delegate <task>: contact_email (email address), order_and_email (order id, email "
                     "address), order_details (order id)",
                     "error: unknown task 'fetch'",
                     f"the AI asked the customer: {ASK_ORDER}",
                     "the AI is on a task (order_details for sam): collecting order id",
                     "the AI's task is stopped; the conversation is yours",
                     f"error: the AI has no task in conversation {conv}",
                     "nothing in the knowledge base above the threshold"):
        assert fragment in text, fragment
    assert "refund" in text.split("the AI has no task", 1)[1].lower()  # `kb` looked up the customer's question
    assert "Traceback" not in result.output
    assert engine.state(conv)["delegation"] is None and engine.queue.get(conv).claimed_by == "sam"


def test_show_gives_the_hybrid_orchestrators_reasoning_and_that_the_ai_holds(cli_env, make_engine, fake_llm,
                                                                             settings, tmp_path, monkeypatch):
    policy_dir = _policies(tmp_path, default="hybrid")
    monkeypatch.setenv("BOT_POLICY_DIR", str(policy_dir))
    engine = make_engine(fake_llm, dataclasses.replace(settings, policy_dir=policy_dir))
    conv = engine.start("cust-1")
    result = engine.turn(conv, "my lamp arrived broken and I am really annoyed")
    assert result.handoff and result.handoff_reason == "complexity"  # nobody signed in: the AI holds

    shown = flat(agent("show", conv).stdout)
    why = engine.state(conv)["orchestration"]["why"]
    assert "mode hybrid (cohort default)" in shown
    assert "orchestrator (hold, score 3 of 3): " in shown and flat(why)[:40] in shown
    assert "the AI is holding" in shown
    package = json.loads(agent("show", conv, "--json").stdout)
    assert package["holding"] is True and package["orchestration"]["acts"] == "hold"
    assert agent("claim", conv).exit_code == 0  # taken: the AI does not hold any more
    assert "the AI is holding" not in flat(agent("show", conv).stdout)
