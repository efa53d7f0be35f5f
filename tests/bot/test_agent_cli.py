"""`bot agent` as agents run it, beside `bot chat`, on one database, each in its own process."""

from __future__ import annotations

import json

import pytest

from tests.bot.test_cli import run_bot

NO_LLM = {"BOT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "BOT_LLM_TIMEOUT": "1"}  # answers come from facts


def _chat(tmp_path, lines: str, *args: str) -> list[dict]:
    out = run_bot(["chat", *args], lines.encode(), tmp_path, NO_LLM)
    assert out.returncode == 0, out.stderr.decode()
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def _agent(tmp_path, *args: str, stdin: str = "", agent: str = "sam"):
    return run_bot(["agent", *args], stdin.encode(), tmp_path, dict(NO_LLM, BOT_AGENT=agent))


@pytest.fixture
def handed_off(tmp_path):
    turns = _chat(tmp_path, "where is my order A10002?\nI want to talk to a human\n", "--customer", "cust-1")
    assert turns[-1]["handoff"] and turns[-1]["handoff_reason"] == "customer_request"
    return turns[-1]["conversation_id"]


def test_chat_hands_off_in_one_process_and_an_agent_answers_from_another(tmp_path, handed_off):
    conv = handed_off
    out = _agent(tmp_path, "queue", "--json")
    assert out.returncode == 0, out.stderr.decode()
    [package] = json.loads(out.stdout)
    for key in ("conversation_id", "reason", "priority", "customer", "intent", "sentiment", "summary", "transcript",
                "facts", "actions_taken", "suggested_actions", "suggested_reply", "created_at"):
        assert key in package, key
    assert package["conversation_id"] == conv and package["facts"]["order_ids"] == ["A10002"]
    assert {"role", "text"} <= set(package["transcript"][0])

    assert _agent(tmp_path, "claim", conv).returncode == 0
    taken = _agent(tmp_path, "claim", conv, agent="kim")
    assert taken.returncode == 2 and "already claimed by sam" in taken.stderr.decode()
    assert "Traceback" not in taken.stderr.decode()

    sent = _agent(tmp_path, "reply", conv, "Hi Alice, Sam here: A10002 is with UPS and arrives Friday.")
    assert sent.returncode == 0, sent.stderr.decode()
    # the customer's process (a new one) sees the agent's reply in the same conversation and stays with the person
    from bot.persistence import Database

    db = Database(tmp_path / "bot.sqlite")
    assert any(m["role"] == "agent" and "arrives Friday" in m["text"] for m in db.messages_after(conv, -1))
    db.close()
    later = _chat(tmp_path, "thanks, and can you also check my other order?\n", "--conversation", conv)
    assert later[0]["handoff"] and "added that to your case" in later[0]["reply"]

    shown = _agent(tmp_path, "show", conv)
    text = shown.stdout.decode()
    assert shown.returncode == 0 and text.index("summary") < text.index("transcript")
    assert "arrives Friday" in text and "check my other order" in text


def test_the_desk_session_from_a_pipe(tmp_path, handed_off):
    conv = handed_off
    session = "\n".join([
        "claim 1",
        "tool get_order order_id=A10002",
        "tool get_order nonsense",
        "reply I looked it up: it is with UPS.",
        "frobnicate",
        "back she only wanted the tracking",
        "quit",
    ]) + "\n"
    out = _agent(tmp_path, "desk", stdin=session)
    text = " ".join(out.stdout.decode().split())
    assert out.returncode == 0, out.stderr.decode()
    assert "ok: " in text and "A10002" in text  # the tool's result
    assert "error: tool arguments are KEY=VALUE" in text and "error: unknown command 'frobnicate'" in text, text[-3000:]
    assert f"{conv} is back with the AI" in text
    # hand-back: the AI answers again, with the order from before the handoff
    again = _chat(tmp_path, "and when will it arrive?\n", "--conversation", conv)
    assert not again[0]["handoff"] and "A10002" in again[0]["reply"], again
    shown = json.loads(_agent(tmp_path, "show", conv, "--json").stdout)
    assert shown["status"] == "returned" and any(a.get("by") == "sam" for a in shown["actions_taken"])


def test_bad_input_is_one_clear_line(tmp_path, handed_off):
    for args, message in ((["show", "c-nope"], "no handoff for conversation c-nope"),
                          (["reply", handed_off], "give the reply text"),
                          (["assist", "tool", handed_off, "launch_rocket"], "unknown tool 'launch_rocket'"),
                          (["assist", "tool", handed_off, "get_order", "colour=red"], "get_order:")):
        out = _agent(tmp_path, *args)
        assert out.returncode == 2 and message in out.stderr.decode(), (args, out.stderr.decode())
        assert "Traceback" not in out.stderr.decode()
    out = _agent(tmp_path, "queue")
    assert out.returncode == 0 and handed_off in out.stdout.decode()
    resolved = _agent(tmp_path, "resolve", handed_off, "--note", "done")
    assert resolved.returncode == 0
    assert json.loads(_agent(tmp_path, "queue", "--json").stdout) == []
