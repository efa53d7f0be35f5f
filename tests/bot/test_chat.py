"""The interactive chat front end, driven with scripted input on a recording console."""

from __future__ import annotations

import io

from rich.console import Console

from bot.chat import decode_lines, run_json, run_tty
from tests.fakes import FakeLLM


class ScriptedConsole(Console):
    def __init__(self, lines):
        super().__init__(file=io.StringIO(), width=200, force_terminal=False, color_system=None)
        self._lines = list(lines)

    def input(self, prompt="", **kwargs):  # noqa: A003 - rich's name
        if not self._lines:
            raise EOFError
        return self._lines.pop(0)


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
