"""`bot agent signin | away | signout | who` and the desk's presence commands, in-process over a conversation handed
off by an Engine in the test (the fixtures of tests/bot/test_agent_cli_inprocess.py): the roster they write is the
one the queue routes `next` by."""

from __future__ import annotations

import json

from tests.bot import test_agent_cli_inprocess as base
from tests.bot.test_agent_cli_inprocess import agent, flat, one_error

cli_env, handed_off = base.cli_env, base.handed_off  # the fixtures, shared with that file


def test_signin_who_away_and_signout(cli_env):
    assert agent("who").stdout.strip() == "Nobody has signed in."
    assert json.loads(agent("who", "--json").stdout) == []
    signed = agent("signin", "--skill", "orders", "--language", "de", "--language", "EN", "--max", "2")
    assert signed.exit_code == 0, signed.stderr
    assert flat(signed.stdout) == "sam is online: skills orders; languages de, en; 0 of 2 conversations"
    assert agent("signin", who="kim").exit_code == 0  # first time: any skill, English, 3
    [kim, sam] = json.loads(agent("who", "--json").stdout)
    assert sam == dict(sam, agent="sam", status="online", skills=["orders"], languages=["de", "en"], load=0,
                       max_concurrent=2, room=2)
    assert kim == dict(kim, agent="kim", skills=[], languages=["en"], max_concurrent=3)
    table = agent("who").stdout
    assert all(word in table for word in ("agent", "status", "skills", "languages", "load/max", "0/2", "any"))
    assert "away" in agent("away").stdout
    back = agent("signin")  # coming back keeps what was declared
    assert flat(back.stdout) == "sam is online: skills orders; languages de, en; 0 of 2 conversations"
    assert "skills any" in flat(agent("signin", "--skill", "any").stdout)
    assert agent("signout").stdout.strip() == "sam is offline"
    assert agent("signout", who="lee").stdout.strip() == "lee was not signed in"
    assert [(a["agent"], a["status"]) for a in json.loads(agent("who", "--json").stdout)] == \
        [("kim", "online"), ("sam", "offline")]


def test_presence_mistakes_are_one_error_line(cli_env):
    one_error(agent("signin", "--skill", "ordrs"), "unknown skill 'ordrs'; the skills of guardrails/handoff.yaml")
    one_error(agent("signin", "--language", "english"), "a 2-letter ISO 639-1 code such as en or de")
    one_error(agent("signin", "--max", "0"), "max_concurrent is a whole number from 1 to 50, got 0")
    one_error(agent("away", who="kim"), "agent kim has not signed in yet: sign in first")
    assert json.loads(agent("who", "--json").stdout) == []  # nothing was written


def test_next_follows_the_agents_presence(handed_off):
    engine, conv = handed_off
    assert engine.queue.get(conv).package["skill"] == "orders"
    assert agent("signin", "--skill", "billing").exit_code == 0
    assert "nothing waiting" in agent("next").stdout.lower()  # routed by the skills signed in with
    assert agent("signin", "--skill", "orders", "--max", "1").exit_code == 0
    assert agent("away").exit_code == 0
    one_error(agent("next"), "agent sam is away: sign in (status online) to take new conversations")
    assert agent("signin").exit_code == 0
    taken = agent("next")
    assert taken.exit_code == 0 and conv in taken.stdout and engine.queue.get(conv).claimed_by == "sam"
    assert "1/1" in agent("who").stdout
    assert engine.deps.capacity("orders", "en") == {"online": 1, "free": 0, "slots": 0}


def test_desk_presence_commands_from_a_pipe(handed_off):
    engine, conv = handed_off
    session = "\n".join([
        "who",
        "signin --skill orders --max 2",
        "away",
        "next",                        # away: refused
        "signin --max lots",
        "signin --colour red",
        "signin",
        "next",
        "who",
        "signout",
        "quit",
    ]) + "\n"
    result = agent("desk", input=session)
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "Nobody has signed in." in text
    assert "sam is online: skills orders; languages en; 0 of 2 conversations" in text
    assert "sam is away" in text and "error: agent sam is away: sign in" in text
    assert "error: --max is a whole number from 1 to 50, got 'lots'" in text
    assert "error: signin [--skill S]… [--language L]… [--max N]" in text
    assert engine.queue.get(conv).claimed_by == "sam" and "1/2" in text
    assert text.rstrip().endswith("sam is offline")
    assert engine.presence.get("sam").status == "offline"
