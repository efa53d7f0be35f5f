"""`bot agent` in-process (typer's CliRunner) over a conversation handed off by an Engine in the test, on one SQLite
database: every subcommand, the error lines, and the interactive `desk` fed from a pipe (the real processes:
tests/bot/test_agent_cli.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli import app

CONTRACT_KEYS = ("conversation_id", "reason", "priority", "customer", "intent", "sentiment", "summary", "transcript",
                 "facts", "actions_taken", "suggested_actions", "suggested_reply", "created_at")
DRAFT = "Hello Alice, Sam here. Your order A10002 is with UPS and I will keep an eye on it for you."


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The CLI's settings come from the environment: point them at the test's database, store and data dir."""
    env = {"BOT_DB_URL": settings.db_url, "BOT_DATA_DIR": str(settings.data_dir),
           "BOT_STORE_DB": str(settings.store_db), "BOT_LLM_BASE_URL": "http://127.0.0.1:9/v1",
           "BOT_LLM_TIMEOUT": "1", "BOT_AGENT": "sam", "COLUMNS": "200", "OTEL_SDK_DISABLED": "true"}
    for key in ("BOT_LLM_MODEL", "BOT_LLM_API_KEY", "OPENAI_API_KEY", "BOT_LOCAL_MODEL", "BOT_POLICY_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The desk's console is made when bot.agent_cli is first imported, maybe by another test file with another
    # width: give it the wide terminal these tests read tables from.
    from rich.console import Console

    monkeypatch.setattr("bot.agent_cli.out", Console(width=200))
    return env


@pytest.fixture
def handed_off(cli_env, make_engine, fake_llm):
    fake_llm.draft = DRAFT
    engine = make_engine(fake_llm)
    conv = engine.start("cust-1")
    engine.turn(conv, "where is my order A10002")
    result = engine.turn(conv, "I want to talk to a human")
    assert result.handoff and result.handoff_reason == "customer_request"
    return engine, conv


def agent(*args: str, input: str | None = None, who: str | None = None):
    """Run `bot agent ARGS` in-process; stdout and stderr are kept apart (click >= 8.2)."""
    argv = ["agent", *args] + (["--agent", who] if who else [])
    return CliRunner().invoke(app, argv, input=input, catch_exceptions=False)


def one_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output


def flat(text: str) -> str:
    return " ".join(text.split())


# -- reading ----------------------------------------------------------------------------------------------------------
def test_queue_json_is_the_contract_array(handed_off):
    _, conv = handed_off
    result = agent("queue", "--json")
    assert result.exit_code == 0, result.stderr
    [package] = json.loads(result.stdout)  # nothing else on stdout
    for key in CONTRACT_KEYS:
        assert key in package, key
    assert package["conversation_id"] == conv and package["reason"] == "customer_request"
    assert package["status"] == "waiting" and package["claimed_by"] is None
    assert package["customer"]["id"] == "cust-1" and package["facts"]["order_ids"] == ["A10002"]
    assert all({"role", "text"} <= set(line) for line in package["transcript"])
    assert package["suggested_actions"] and package["suggested_reply"] and package["summary"]


def test_queue_table_filters_and_all(handed_off):
    _, conv = handed_off
    table = agent("queue")
    assert table.exit_code == 0 and conv in table.stdout and "Alice Martin" in table.stdout
    assert "customer_request" in table.stdout
    assert "Nothing waiting" in agent("queue", "--language", "fr").stdout
    assert json.loads(agent("queue", "--json", "--skill", "billing").stdout) == []
    assert [p["conversation_id"] for p in json.loads(agent("queue", "--json", "--language", "en").stdout)] == [conv]
    assert agent("claim", conv).exit_code == 0
    assert json.loads(agent("queue", "--json").stdout) == []  # claimed: not waiting any more
    [claimed] = json.loads(agent("queue", "--json", "--all").stdout)
    assert claimed["status"] == "claimed" and claimed["claimed_by"] == "sam"


def test_show_puts_summary_and_actions_before_the_transcript(handed_off):
    _, conv = handed_off
    result = agent("show", conv)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    order = [text.index(word) for word in ("Alice Martin", "summary", "suggested next actions", "suggested reply",
                                           "facts and actions taken", "transcript")]
    assert order == sorted(order), order
    assert "customer_request" in text and "I want to talk to a human" in flat(text)
    assert "customer › where is my order A10002" in flat(text.rsplit("transcript", 1)[1])
    shown = json.loads(agent("show", conv, "--json").stdout)
    assert shown["mode"] == "human" and shown["status"] == "waiting" and shown["conversation_id"] == conv


# -- queue actions ----------------------------------------------------------------------------------------------------
def test_a_claimed_handoff_is_refused_to_another_agent(handed_off):
    _, conv = handed_off
    first = agent("claim", conv)
    assert first.exit_code == 0 and "claimed" in first.stdout
    assert agent("claim", conv).exit_code == 0  # claiming again is harmless
    one_error(agent("claim", conv, who="kim"), f"conversation {conv} is already claimed by sam")
    one_error(agent("reply", conv, "Hi, Kim here", who="kim"), "claimed by sam, not kim")
    one_error(agent("release", conv, who="kim"), "is not claimed by kim")
    assert agent("release", conv).exit_code == 0
    assert agent("claim", conv, who="kim").exit_code == 0  # released: anyone may take it now


def test_next_claims_the_most_urgent_then_says_nothing_waiting(handed_off):
    engine, conv = handed_off
    result = agent("next")
    assert result.exit_code == 0 and conv in result.stdout
    assert engine.queue.get(conv).claimed_by == "sam"
    again = agent("next", who="kim")
    assert again.exit_code == 0 and "nothing waiting" in again.stdout.lower()


def test_reply_reaches_the_conversation_and_resolve_closes_it(handed_off):
    engine, conv = handed_off
    sent = agent("reply", conv, "Hi Alice, Sam here: A10002 arrives Friday.")
    assert sent.exit_code == 0, sent.stderr
    last = engine.db.transcript(conv)[-1]
    assert last["role"] == "agent" and "arrives Friday" in last["text"]
    assert engine.queue.get(conv).claimed_by == "sam"  # replying to a waiting handoff claimed it
    resolved = agent("resolve", conv, "--note", "told her the date")
    assert resolved.exit_code == 0, resolved.stderr
    assert engine.queue.get(conv).status == "resolved" and engine.state(conv)["mode"] == "closed"
    one_error(agent("reply", conv, "one more thing"), "has no open handoff")
    one_error(agent("claim", conv), "already resolved")


def test_hand_back_with_a_note_gives_the_conversation_to_the_ai(handed_off):
    engine, conv = handed_off
    assert agent("claim", conv).exit_code == 0
    back = agent("hand-back", conv, "--note", "she only wanted the tracking number")
    assert back.exit_code == 0, back.stderr
    assert engine.state(conv)["mode"] == "ai" and engine.queue.get(conv).status == "returned"
    assert not engine.waiting_for_human(conv)
    missing = agent("hand-back", conv)  # --note is required (typer's own usage error, exit 2)
    assert missing.exit_code == 2 and "--note" in missing.stderr


# -- AI assist --------------------------------------------------------------------------------------------------------
def test_assist_tool_runs_as_the_customer_and_is_recorded(handed_off):
    engine, conv = handed_off
    result = agent("assist", "tool", conv, "get_order", "order_id=A10002")
    assert result.exit_code == 0, result.stderr
    assert "ok" in result.stdout and "A10002" in result.stdout and "UPS" in result.stdout
    taken = engine.state(conv)["actions_taken"][-1]
    assert taken["tool"] == "get_order" and taken["by"] == "sam"
    other = agent("assist", "tool", conv, "get_order", "order_id=A10099")  # not Alice's order: ok=False, exit 0
    assert other.exit_code == 0 and "A10099" in other.stdout


@pytest.mark.parametrize("args, fragment", [
    (("assist", "tool", "{conv}", "get_order", "nonsense"), "tool arguments are KEY=VALUE, got 'nonsense'"),
    (("assist", "tool", "{conv}", "get_order", "=x"), "KEY=VALUE"),
    (("assist", "tool", "{conv}", "launch_rocket"), "unknown tool 'launch_rocket'; available: "),
    (("assist", "tool", "{conv}", "get_order"), "get_order: missing a required argument: 'order_id'"),
    (("assist", "tool", "{conv}", "get_order", "colour=red"), "get_order:"),
    (("show", "c-nope"), "no handoff for conversation c-nope"),
    (("claim", "c-nope"), "no handoff for conversation c-nope"),
    (("reply", "c-nope", "hello"), "conversation c-nope has no open handoff"),
    (("reply", "{conv}", "   "), "an empty reply was not sent"),
    (("reply", "{conv}"), "give the reply text"),
    (("resolve", "c-nope"), "conversation c-nope has no open handoff"),
])
def test_bad_input_is_one_error_line(handed_off, args, fragment):
    engine, conv = handed_off
    one_error(agent(*(a.format(conv=conv) for a in args)), fragment)
    assert engine.queue.get(conv).status == "waiting"  # nothing happened to the real handoff


def test_assist_draft_and_reply_with_the_draft(handed_off, fake_llm, monkeypatch):
    engine, conv = handed_off
    monkeypatch.setattr("bot.cli.connect_llm", lambda settings: fake_llm.client())  # lazily, only for drafts
    drafted = agent("assist", "draft", conv, "--instruction", "mention the carrier")
    assert drafted.exit_code == 0, drafted.stderr
    assert "draft (llm)" in drafted.stdout and "keep an eye on it" in flat(drafted.stdout)
    assert "mention the carrier" in json.dumps(fake_llm.requests[-1])
    shown_only = agent("reply", conv, "--draft")
    assert shown_only.exit_code == 0 and "not sent" in shown_only.stdout
    assert engine.db.transcript(conv)[-1]["role"] != "agent"
    sent = agent("reply", conv, "--draft", "--yes")
    assert sent.exit_code == 0, sent.stderr
    assert engine.db.transcript(conv)[-1] == dict(engine.db.transcript(conv)[-1], role="agent", text=DRAFT)


def test_assist_draft_without_a_reachable_llm_falls_back_to_the_facts(handed_off, fake_llm, monkeypatch):
    engine, conv = handed_off
    fake_llm.fail_status = 503
    monkeypatch.setattr("bot.cli.connect_llm", lambda settings: fake_llm.client())
    drafted = agent("assist", "draft", conv)
    assert drafted.exit_code == 0, drafted.stderr
    assert "draft (facts)" in drafted.stdout
    assert flat(engine.queue.get(conv).package["suggested_reply"])[:40] in flat(drafted.stdout)


def test_the_llm_is_not_connected_for_queue_show_claim_reply(handed_off, monkeypatch):
    _, conv = handed_off

    def no_llm(settings):
        raise AssertionError("connect_llm called")

    monkeypatch.setattr("bot.cli.connect_llm", no_llm)
    for args in (("queue", "--json"), ("show", conv), ("claim", conv), ("reply", conv, "hello"),
                 ("assist", "tool", conv, "get_order", "order_id=A10002"), ("resolve", conv)):
        assert agent(*args).exit_code == 0, args


# -- the interactive desk, fed from a pipe ----------------------------------------------------------------------------
def test_desk_session_from_a_pipe(handed_off, fake_llm, monkeypatch):
    engine, conv = handed_off
    monkeypatch.setattr("bot.cli.connect_llm", lambda settings: fake_llm.client())
    session = "\n".join([
        "reply too early",             # nothing selected yet
        "claim 7",                     # no such row
        "claim 1",
        "show",
        "tool get_order order_id=A10002",
        "tool get_order nonsense",
        "tool launch_rocket",
        "send",                        # no draft yet
        "draft mention the carrier",
        "send",
        "frobnicate",
        "resolve all sorted",
        "refresh",
        "quit",
        "reply never read",
    ]) + "\n"
    result = agent("desk", input=session)
    assert result.exit_code == 0, (result.stdout[-2000:], result.stderr)
    text = flat(result.stdout)
    for fragment in ("error: no conversation selected", "error: no handoff number 7",
                     "error: tool arguments are KEY=VALUE", "error: unknown tool 'launch_rocket'",
                     "error: no draft yet", "error: unknown command 'frobnicate'", f"resolved {conv}"):
        assert fragment in text, fragment
    assert "Traceback" not in result.output
    roles = [(m["role"], m["text"]) for m in engine.db.transcript(conv)]
    assert ("agent", DRAFT) in roles and "never read" not in json.dumps(roles)
    assert engine.queue.get(conv).status == "resolved"
    assert engine.state(conv)["actions_taken"][-1]["by"] == "sam"


def test_bare_bot_agent_is_the_desk_and_ends_at_end_of_input(handed_off):
    engine, conv = handed_off
    result = CliRunner().invoke(app, ["agent"], input="claim 1\nback the AI can finish this\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert f"{conv} is back with the AI" in flat(result.stdout)
    assert engine.state(conv)["mode"] == "ai" and engine.queue.get(conv).status == "returned"


def test_desk_with_nothing_waiting(cli_env):
    result = agent("desk", input="claim 1\nnext\n")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout).lower()
    assert "nothing waiting" in text and "error: no handoff number 1" in text


# -- typed tool arguments, literal text in rich output, a note to hand back, errors the desk did not expect ------
def test_tool_arguments_are_typed_as_the_tool_declares(handed_off):
    _, conv = handed_off
    listed = agent("assist", "tool", conv, "list_orders", "limit=2")
    assert listed.exit_code == 0 and "Recent orders" in listed.stdout, listed.stdout
    one_error(agent("assist", "tool", conv, "list_orders", "limit=lots"), "limit is a whole number, got 'lots'")
    one_error(agent("assist", "tool", conv, "start_return", "order_id=A10001", "reason=x", "damaged=maybe"),
              "damaged is yes or no")


def test_desk_help_markup_and_the_hand_back_note(handed_off):
    _, conv = handed_off
    session = "\n".join(["help", "claim 1", 'tool search_products "query=[/x] headphones"', "show", "back",
                         "back she wanted the tracking only"]) + "\n"
    result = agent("desk", input=session)
    assert result.exit_code == 0, (result.stdout[-3000:], result.stderr)
    text = flat(result.stdout)
    assert "show [id]" in text and "draft [instruction]" in text
    assert '{"query": "[/x] headphones"}' in text  # the arguments, shown literally
    assert "error: back <note for the AI>" in text and f"{conv} is back with the AI" in text
    assert "t2: +" in text and "I want to talk to a human" in text.split("signals", 1)[1]


def test_desk_survives_an_error_it_did_not_expect(handed_off, monkeypatch):
    import sqlite3

    def locked(self, conversation_id):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("bot.desk.Desk.show", locked)
    result = agent("desk", input="show c-x\nfrobnicate\n")
    assert result.exit_code == 0 and "Traceback" not in result.output
    text = flat(result.stdout)
    assert "error: show c-x: OperationalError: database is locked" in text and "unknown command 'frobnicate'" in text

