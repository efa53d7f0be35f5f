"""The interactive chat front end, driven with scripted input on a recording console."""

from __future__ import annotations

import io
import json

from rich.console import Console

from bot.chat import CSAT_HINT, decode_lines, run_json, run_tty
from tests.fakes import FakeLLM


class ScriptedConsole(Console):
    def __init__(self, lines):
        super().__init__(file=io.StringIO(), width=200, force_terminal=False, color_system=None)
        self._lines = list(lines)

    def input(self, prompt="", **kwargs):  # noqa: A003 - rich's name
        if not self._lines:
            raise EOFError
        line = self._lines.pop(0)
        return line() if callable(line) else line  # a callable: something happens while the customer reads


def test_tty_chat_streams_replies_and_shows_the_handoff(make_engine):
    engine = make_engine(FakeLLM(reply="Hello! How can I help?"))
    conv = engine.start("cust-1")
    console = ScriptedConsole(["hi", "where is my order A10002?", "I want to talk to a human", "are you there?"])
    run_tty(engine, conv, console)
    out = console.file.getvalue()
    assert "Alice Martin (cust-1, standard)" in out
    assert "Hello! How can I help?" in out
    assert "Order A10002 has shipped with UPS" in out
    assert "Handed to a human agent (you asked for a person)" in out
    assert out.count("Handed to a human agent") == 1  # shown once, not on every later message
    assert "added that to your case" in out
    assert f"Conversation {conv} saved." in out


def test_tty_chat_quits_on_command(make_engine):
    engine = make_engine(FakeLLM())
    conv = engine.start(None)
    console = ScriptedConsole(["/quit", "never sent"])
    run_tty(engine, conv, console)
    assert engine.db.transcript(conv) == []


def test_json_lines_and_undecodable_bytes(make_engine):
    engine = make_engine(FakeLLM())
    conv = engine.start("cust-1")
    out = io.StringIO()
    lines = decode_lines(io.BytesIO(b"where is my order A10002?\r\n\xff\xfe\xfa\xfb\n"))
    assert run_json(engine, conv, lines, out) == 2
    first, second = out.getvalue().splitlines()
    assert '"intent": "order_status"' in first and "could not be read" in second


# -- CSAT: the question, the hint, the rating, and the proxy when the customer leaves ------------------------------
CONTRACT_KEYS = {"conversation_id", "reply", "intent", "sentiment", "handoff", "handoff_reason", "blocked"}


def _csat(engine, conv):
    record = engine.db.conversation(conv)
    return record["csat"], record["csat_source"]


def test_json_lines_flag_the_question_and_leaving_without_a_rating_stores_the_proxy(make_engine):
    engine = make_engine(FakeLLM(reply="Glad I could help."))
    conv = engine.start("cust-1")
    out = io.StringIO()
    assert run_json(engine, conv, ["where is my order A10002?", "great, thanks, bye"], out) == 2
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(first) == CONTRACT_KEYS  # CONTRACTS §1 unchanged on an ordinary turn
    assert set(second) == CONTRACT_KEYS | {"csat_asked"} and second["csat_asked"] is True
    assert second["reply"].endswith(engine.deps.policies.messages.get("csat.ask"))
    score, source = _csat(engine, conv)
    assert source == "proxy" and 1 <= score <= 5  # the end of the input: the customer left without rating


def test_json_lines_a_rating_is_kept_when_the_input_ends(make_engine):
    engine = make_engine(FakeLLM(reply="Glad I could help."))
    conv = engine.start("cust-1")
    out = io.StringIO()
    run_json(engine, conv, ["where is my order A10002?", "bye", "4/5"], out)
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["reply"] == engine.deps.policies.messages.get("csat.thanks", score=4) and "csat_asked" not in last
    assert _csat(engine, conv) == (4.0, "customer")


def test_tty_shows_the_hint_takes_the_rating_and_stores_the_proxy_on_quit(make_engine):
    engine = make_engine(FakeLLM(reply="Glad I could help."))
    rated = engine.start("cust-1")
    console = ScriptedConsole(["where is my order A10002?", "bye", "I'd give it a five"])
    run_tty(engine, rated, console)
    out = console.file.getvalue()
    assert engine.deps.policies.messages.get("csat.ask") in out
    assert out.count(CSAT_HINT) == 1 and "Thank you for your rating of 5!" in out
    assert _csat(engine, rated) == (5.0, "customer")  # Ctrl-D after rating: the rating stays

    left = engine.start("cust-1")
    console = ScriptedConsole(["where is my order A10002?", "bye", "/quit"])
    run_tty(engine, left, console)
    assert CSAT_HINT in console.file.getvalue()
    assert _csat(engine, left)[1] == "proxy"


def test_tty_shows_the_hint_when_an_agent_resolves(make_engine):
    import time

    from bot.desk import Desk

    engine = make_engine(FakeLLM())
    conv = engine.start("cust-1")
    question = engine.deps.policies.messages.get("csat.ask")

    def agent_resolves_while_the_customer_reads():  # another process's desk; the chat's watcher shows the notice
        desk = Desk(engine)
        desk.claim(conv, "sam")
        desk.resolve(conv, "sam")
        deadline = time.monotonic() + 10
        while CSAT_HINT not in console.file.getvalue() and time.monotonic() < deadline:
            time.sleep(0.1)
        return "4"

    console = ScriptedConsole(["I want to talk to a human", agent_resolves_while_the_customer_reads])
    run_tty(engine, conv, console)
    out = console.file.getvalue()
    notice = out.index(question)
    assert "agent" in out[:notice] and out.index(CSAT_HINT) > notice
    assert "Thank you for your rating of 4!" in out
    assert _csat(engine, conv) == (4.0, "customer") and engine.state(conv)["mode"] == "closed"


def test_bot_chat_piped_stores_the_proxy_when_the_input_ends(tmp_path):
    """The real command: a subprocess reads stdin to its end, then the proxy is in the database."""
    import sqlite3

    from tests.bot.test_cli import run_bot
    from tests.fake_server import fake_llm_server

    with fake_llm_server(FakeLLM(reply="Glad I could help.")) as url:
        out = run_bot(["chat", "--customer", "cust-1"], b"where is my order A10002?\nthanks, bye\n", tmp_path,
                      {"BOT_LLM_BASE_URL": url})
        rated = run_bot(["chat", "--customer", "cust-1"], b"bye\n4\n", tmp_path, {"BOT_LLM_BASE_URL": url})
    assert out.returncode == 0 and rated.returncode == 0, (out.stderr.decode(), rated.stderr.decode())
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert "csat_asked" not in lines[0] and lines[1]["csat_asked"] is True
    conv = lines[0]["conversation_id"]
    rated_conv = json.loads(rated.stdout.decode().splitlines()[0])["conversation_id"]
    with sqlite3.connect(tmp_path / "bot.sqlite") as db:
        stored = dict((cid, (score, source)) for cid, score, source in
                      db.execute("SELECT id, csat, csat_source FROM conversations"))
    assert stored[conv][1] == "proxy" and 1 <= stored[conv][0] <= 5
    assert stored[rated_conv] == (4.0, "customer")
