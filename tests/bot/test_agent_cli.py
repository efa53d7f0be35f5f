"""`bot agent` as agents run it, beside `bot chat`, on one database, each in its own process."""

from __future__ import annotations

import json

from tests.bot.test_cli import run_bot

NO_LLM = {"BOT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "BOT_LLM_TIMEOUT": "1"}  # answers come from facts


def _chat(tmp_path, lines: str, *args: str) -> list[dict]:
    out = run_bot(["chat", *args], lines.encode(), tmp_path, NO_LLM)
    assert out.returncode == 0, out.stderr.decode()
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def _agent(tmp_path, *args: str, stdin: str = "", agent: str = "sam"):
    return run_bot(["agent", *args], stdin.encode(), tmp_path, dict(NO_LLM, BOT_AGENT=agent))


def test_chat_hands_off_in_one_process_and_an_agent_answers_from_another(tmp_path):
    """One conversation across processes: `bot chat` hands off, `bot agent` claims and replies, the desk runs a tool
    and hands back, and a new `bot chat` goes on with the AI (later messages joining the package: test_handoff_flow)."""
    turns = _chat(tmp_path, "where is my order A10002?\nI want to talk to a human\n", "--customer", "cust-1")
    assert turns[-1]["handoff"] and turns[-1]["handoff_reason"] == "customer_request"
    conv = turns[-1]["conversation_id"]

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

    session = "\n".join([f"claim {conv}", "tool get_order order_id=A10002", "tool get_order nonsense",
                         "back she only wanted the tracking", "quit"]) + "\n"
    out = _agent(tmp_path, "desk", stdin=session)
    text = " ".join(out.stdout.decode().split())
    assert out.returncode == 0, out.stderr.decode()
    assert text.index("summary") < text.index("transcript")  # the package reads summary first
    assert "arrives Friday" in text  # the agent's reply, written by another process
    assert "ok: Order A10002" in text and "error: tool arguments are KEY=VALUE" in text
    assert f"{conv} is back with the AI" in text

    # hand-back: the AI answers again, with the order from before the handoff
    again = _chat(tmp_path, "and when will it arrive?\n", "--conversation", conv)
    assert not again[0]["handoff"] and "A10002" in again[0]["reply"], again
    shown = json.loads(_agent(tmp_path, "show", conv, "--json").stdout)
    assert shown["status"] == "returned" and any(a.get("by") == "sam" for a in shown["actions_taken"])
