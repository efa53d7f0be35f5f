"""`bot agent review|flag|flags|unflag` and `bot feedback list|export|suggest` in-process over a conversation an
Engine in the test stored: output, JSON and the one-line errors."""

from __future__ import annotations

import json

from tests.bot import test_agent_cli_inprocess as base
from tests.bot.test_agent_cli_inprocess import agent, flat, one_error

cli_env, handed_off = base.cli_env, base.handed_off  # the fixtures, shared with that file


def feedback(*args: str):
    from typer.testing import CliRunner

    from bot.cli import app

    return CliRunner().invoke(app, ["feedback", *args], catch_exceptions=False)


def test_review_flag_list_and_withdraw(handed_off, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr("bot.feedback_cli.out", Console(width=200))  # the tables are read below
    _, conv = handed_off
    review = agent("review", conv)
    assert review.exit_code == 0, review.stderr
    assert "handed off at turn 2 (customer_request)" in flat(review.stdout) and "order_status" in review.stdout
    turns = json.loads(agent("review", conv, "--json").stdout)["turns"]
    assert [(t["role"], t["customer_turn"]) for t in turns][:4] == [("customer", 1), ("bot", 1), ("customer", 2),
                                                                   ("bot", 2)]
    made = agent("flag", conv, "misrouted", "--no-handoff", "--note", "call me on 415-555-0100 said the customer")
    assert made.exit_code == 0 and "customer_request -> no handoff" in flat(made.stdout)
    [stored] = json.loads(agent("flags", "--json").stdout)
    assert stored["agent"] == "sam" and "415-555-0100" not in json.dumps(stored)
    assert json.loads(feedback("list", "--json").stdout) == [stored]
    assert json.loads(agent("flags", "--mine", "--json", who="kim").stdout) == []
    assert "No flags." in agent("flags", "--kind", "bad_answer").stdout
    one_error(agent("unflag", stored["id"], who="kim"), "only they can withdraw it")
    assert agent("unflag", stored["id"]).stdout.strip() == f"withdrew {stored['id']}"
    assert json.loads(feedback("list", "--json").stdout) == []


def test_mistakes_are_one_error_line(handed_off, tmp_path):
    _, conv = handed_off
    one_error(agent("flag", conv, "wrongintent"), "unknown flag kind 'wrongintent'")
    one_error(agent("flag", conv, "wrong_intent", "--turn", "9", "--intent", "billing"), "not 9")
    one_error(agent("flag", "c-nope", "misrouted", "--handoff", "--reason", "vip_customer"), "no conversation c-nope")
    one_error(agent("review", "c-nope"), "no conversation c-nope")
    one_error(feedback("export", "--out", str(tmp_path)), "is a directory")
    one_error(feedback("list", "--since-days", "-1"), "--since-days -1")


def test_export_and_suggest(handed_off, tmp_path):
    _, conv = handed_off
    agent("flag", conv, "wrong_intent", "--turn", "1", "--intent", "shipping_info")
    out = tmp_path / "cases.jsonl"
    exported = feedback("export", "--out", str(out))
    assert exported.exit_code == 0 and f"bot eval {out}" in exported.stderr
    [case] = [json.loads(line) for line in out.read_text().splitlines()]
    assert case["expect"] == {"intents": ["shipping_info", None]} and case["source"]["conversation_id"] == conv
    [suggestion] = json.loads(feedback("suggest", "--json").stdout)
    assert suggestion["finding"] == "1 message(s) read as order_status were shipping_info"
    assert "bot train" in flat(feedback("suggest").stdout)


def test_flag_from_the_desk_loop(handed_off):
    _, conv = handed_off
    session = "\n".join([
        "flag wrong_intent 1 intent=shipping_info",  # nothing selected yet
        "claim 1",
        "flag",
        "flag misrouted handoff=maybe",
        "flag misrouted colour=red",
        'flag wrong_intent 1 intent=shipping_info note="they asked about the carrier"',
        "flag misrouted handoff=no",
    ]) + "\n"
    result = agent("desk", input=session)
    assert result.exit_code == 0, (result.stdout[-2000:], result.stderr)
    text = flat(result.stdout)
    for fragment in ("error: no conversation selected", "error: flag <kind> [turn] key=value",
                     "error: flag: handoff is yes or no, got 'maybe'", "error: flag: 'colour=red' is not key=value",
                     "intent order_status -> shipping_info — they asked about the carrier",
                     "customer_request -> no handoff"):
        assert fragment in text, fragment
    assert sorted(f["kind"] for f in json.loads(agent("flags", "--json").stdout)) == ["misrouted", "wrong_intent"]


def test_no_database_yet_and_an_unwritable_report_are_one_error_line(cli_env, tmp_path):
    one_error(feedback("list"), "no database at")
    from typer.testing import CliRunner

    from bot.cli import app

    train = CliRunner().invoke(app, ["train", "--json", str(tmp_path)], catch_exceptions=False)
    one_error(train, "is a directory")
