"""`bot eval` end to end: replay and grade modes, the JSON and HTML outputs, thresholds, bad input, --from-db."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

from evals.command import EvalInputError, EvalOptions, run_eval
from tests.fakes import FakeLLM

SET = [
    {"id": "status", "customer": {"id": "cust-1"}, "turns": [{"role": "customer", "text": "where is my order A10002?"}],
     "expect": {"intents": ["order_status"], "handoff": False, "blocked_turns": [], "must_not_contain": ["A10003"]}},
    {"id": "human", "customer": {"id": "guest-77", "tier": "standard"},
     "turns": [{"role": "customer", "text": "hello"}, {"role": "customer", "text": "I want to talk to a human"},
               {"role": "customer", "text": "are you still there?"}],
     "expect": {"intents": ["greeting", "human_request", None], "handoff": True, "handoff_by_turn": 2,
                "handoff_reason": "customer_request"}},
    {"id": "vip", "customer": {"id": "unknown-vip", "tier": "vip"}, "turns": [{"role": "customer", "text": "hi"}],
     "expect": {"handoff": True, "handoff_by_turn": 1, "handoff_reason": "vip_customer"}},
    {"id": "cancel", "customer": {"id": "cust-1"},
     "turns": [{"role": "customer", "text": "cancel order A10003"}, {"role": "customer", "text": "yes"}],
     "expect": {"intents": ["cancel_order", "cancel_order"], "handoff": False}},
    {"id": "cancel-again", "customer": {"id": "cust-1"},
     "turns": [{"role": "customer", "text": "cancel order A10003"}, {"role": "customer", "text": "yes"}],
     "expect": {"intents": ["cancel_order", "cancel_order"], "handoff": False}},
]


@pytest.fixture
def eval_file(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in SET))
    return path


def run(settings, tmp_path, files, **kw):
    options = EvalOptions(files=files, json_out=tmp_path / "out.json", report=tmp_path / "out.html", **kw)
    console = Console(file=open(os.devnull, "w"))
    return run_eval(options, settings, console, lambda s, **_: FakeLLM(reply="Hello! How can I help?").client())


def test_replay_json_and_report(settings, tmp_path, eval_file):
    summary, status = run(settings, tmp_path, [eval_file], workers=2)
    assert status == 0
    written = json.loads((tmp_path / "out.json").read_text())
    for key in ("conversations", "turns", "containment_rate", "escalation", "intent_accuracy", "block_rate",
                "false_block_rate", "must_not_contain_violations", "pii_leaks", "latency_ms", "per_conversation"):
        assert key in written
    assert set(written["escalation"]) >= {"precision", "recall", "f1", "timeliness"}
    assert written["conversations"] == 5 and written["turns"] == 9
    assert written["escalation"]["f1"] == 1.0 and written["escalation"]["timeliness"] == 1.0
    assert written["intent_accuracy"] == 1.0 and written["containment_rate"] == 0.6
    human = next(c for c in written["per_conversation"] if c["id"] == "human")
    assert human["handoff_turn"] == 2 and human["handoff_reason"] == "customer_request"
    assert len(human["intents"]) == 3  # the turn after the handoff is still understood
    # every replay has its own store: the second cancellation of A10003 succeeds too
    for cid in ("cancel", "cancel-again"):
        conv = next(c for c in written["per_conversation"] if c["id"] == cid)
        assert "has been cancelled" in conv["replies"][-1]
    page = (tmp_path / "out.html").read_text()
    for section in ("Summary", "Escalation outcomes", "Intent confusion", "Latency", "Guardrail events",
                    "Conversations"):
        assert f"<h2>{section}" in page
    assert page.count("data:image/png;base64,") == 3 and "<script" not in page


def test_replay_is_deterministic(settings, tmp_path, eval_file):
    first, _ = run(settings, tmp_path, [eval_file], workers=2)
    second, _ = run(settings, tmp_path, [eval_file], workers=1)
    strip = lambda s: [{k: v for k, v in c.items() if k not in ("latency_ms", "transcript")}  # noqa: E731
                       for c in s["per_conversation"]]
    assert strip(first) == strip(second)


def test_missed_threshold_exits_1(settings, tmp_path, eval_file):
    summary, status = run(settings, tmp_path, [eval_file], thresholds={"containment_rate": 0.9, "pii_leaks": 0})
    assert status == 1 and summary["thresholds"]["missed"] == ["containment_rate = 0.6 < 0.9"]
    assert "Thresholds missed" in (tmp_path / "out.html").read_text()


def test_failures_are_reported_per_conversation(settings, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "wrong", "customer": {"id": "cust-1"},
                                "turns": [{"role": "customer", "text": "where is my order A10002?"}],
                                "expect": {"intents": ["billing"], "handoff": True, "handoff_by_turn": 1,
                                           "must_not_contain": ["UPS"]}}) + "\n")
    summary, _ = run(settings, tmp_path, [path])
    failures = summary["per_conversation"][0]["failures"]
    assert "turn 1: intent order_status (expected billing)" in failures
    assert "not handed off (expected a handoff)" in failures
    assert "reply 1 contains 'UPS'" in failures
    assert summary["must_not_contain_violations"] == 1 and summary["escalation"]["timeliness"] == 0.0


def test_grade_recorded_mode(settings, tmp_path):
    path = tmp_path / "recorded.jsonl"
    path.write_text(json.dumps({
        "id": "prod-1", "customer": {"id": "cust-9"},
        "turns": [{"role": "customer", "text": "my email is sam@example.com"},
                  {"role": "bot", "text": "Thanks sam@example.com, your card 4111 1111 1111 1111 is updated."},
                  {"role": "customer", "text": "thanks"}, {"role": "bot", "text": "You're welcome!"}],
        "expect": {"intents": ["account_update", "thanks"], "handoff": False, "must_not_contain": ["card"]},
    }) + "\n")
    summary, status = run(settings, tmp_path, [path], grade_recorded=True)
    assert summary["mode"] == "grade" and status == 0
    assert summary["pii_leaks"] == 1 and summary["must_not_contain_violations"] == 1
    assert summary["intent_accuracy"] is None and summary["escalation"]["f1"] is None  # a recording can't say
    assert summary["containment_rate"] is None
    assert summary["per_conversation"][0]["replies"][1] == "You're welcome!"
    # the output rails grade the recording too: the card number is a PII finding (not an "ungrounded fact")
    assert summary["guardrail_events"] == {"pii:card_number": 1} and summary["guardrail_violations"] == 1


def test_from_db_measures_stored_conversations(make_engine, settings, tmp_path):
    engine = make_engine(FakeLLM(reply="Hello! How can I help?"))
    conv = engine.start("cust-1")
    engine.turn(conv, "hi")
    engine.turn(conv, "where is my order A10002?")
    other = engine.start("cust-2")
    engine.turn(other, "I want to talk to a human")
    summary, status = run(settings, tmp_path, [], from_db=True)
    assert summary["mode"] == "monitor" and summary["conversations"] == 2 and summary["turns"] == 3
    assert summary["containment_rate"] == 0.5 and summary["handoff_reasons"] == {"customer_request": 1}
    assert summary["intents_seen"]["order_status"] == 1 and summary["latency_ms"]["p50"] is not None
    assert summary["intent_accuracy"] is None  # stored conversations carry no expectations


def test_bad_input_names_the_line(settings, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(SET[0]) + "\n" + json.dumps({**SET[1], "expect": {"intents": ["nope"]}}) + "\n")
    with pytest.raises(EvalInputError, match=r"bad.jsonl:2: unknown intent 'nope'"):
        run(settings, tmp_path, [path])


def test_cli_exit_codes(tmp_path, eval_file):
    env = dict(os.environ, BOT_DB_URL=f"sqlite:///{tmp_path / 'db.sqlite'}", OTEL_SDK_DISABLED="true")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    out = subprocess.run([sys.executable, "-m", "bot.cli", "eval", str(bad)], capture_output=True, env=env)
    assert out.returncode == 2 and "bad.jsonl:1: invalid JSON" in out.stderr.decode()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = subprocess.run([sys.executable, "-m", "bot.cli", "eval", str(empty)], capture_output=True, env=env)
    assert out.returncode == 2 and "empty file" in out.stderr.decode()
    out = subprocess.run([sys.executable, "-m", "bot.cli", "eval", str(eval_file), "--fail-under", "bogus=1"],
                         capture_output=True, env=env)
    assert out.returncode == 2 and "METRIC=VALUE" in out.stderr.decode()
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", str(eval_file), "--llm", "stub", "--workers", "2",
         "--json", str(tmp_path / "stub.json"), "--fail-under", "escalation.f1=0.95", "--fail-under",
         "containment_rate=0.99"],
        capture_output=True, env=env, timeout=300,
    )
    assert out.returncode == 1, out.stderr.decode()
    result = json.loads((tmp_path / "stub.json").read_text())
    assert result["escalation"]["f1"] == 1.0 and result["llm"] == "stub" and result["turns_per_s"] > 0


def test_a_sample_is_a_stable_share_chosen_by_id(settings, tmp_path, eval_file):
    from evals.command import load_all, sample

    conversations = load_all([eval_file])
    kept = [c.id for c in sample(conversations, 0.5)]
    assert 0 < len(kept) < len(conversations)
    assert kept == [c.id for c in sample(list(reversed(conversations)), 0.5)][::-1]  # order does not matter
    assert set(kept) <= {c.id for c in sample(conversations, 0.9)}  # a larger share keeps the smaller one's ids
    summary, status = run(settings, tmp_path, [eval_file], sample=0.5, workers=1)
    assert status == 0 and summary["conversations"] == len(kept)
    assert summary["sample"] == {"fraction": 0.5, "kept": len(kept), "of": len(conversations)}
    assert [c["id"] for c in json.loads((tmp_path / "out.json").read_text())["per_conversation"]] == kept
    with pytest.raises(EvalInputError, match="keeps none of the 5"):
        run(settings, tmp_path, [eval_file], sample=0.0001)


def test_the_same_recorded_conversations_in_each_operating_mode(settings, tmp_path, eval_file):
    """`bot eval --mode` (BOT_MODE): QA compares the modes on the same recorded conversations."""
    import dataclasses

    found = {}
    for mode in ("ai_first", "human_led", "hybrid"):
        run(dataclasses.replace(settings, mode=mode), tmp_path, [eval_file], workers=2)
        written = json.loads((tmp_path / "out.json").read_text())
        found[mode] = {c["id"]: (c["handoff_turn"], c["handoff_reason"]) for c in written["per_conversation"]}
        found[mode]["containment"] = written["containment_rate"]
    assert found["ai_first"]["containment"] == 0.6
    # human-led: every conversation goes to a person at its first message (a trigger keeps its own reason)
    assert found["human_led"]["containment"] == 0.0
    assert found["human_led"]["status"] == (1, "human_led") and found["human_led"]["vip"] == (1, "vip_customer")
    # hybrid: the VIP's "hi" stays with the AI (tier and soft trigger: 2 points < 3); asking for a person still works
    assert found["hybrid"]["vip"] == (None, None) and found["hybrid"]["human"] == (2, "customer_request")
    assert found["hybrid"]["containment"] == 0.8


def test_an_unknown_mode_is_refused(tmp_path, eval_file):
    env = dict(os.environ, BOT_DATA_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "bot.cli", "eval", str(eval_file), "--mode", "robots"],
                         capture_output=True, env=env, text=True)
    assert out.returncode == 2 and "--mode 'robots': use ai_first, human_led or hybrid" in out.stderr
    out = subprocess.run([sys.executable, "-m", "bot.cli", "eval", str(eval_file)], capture_output=True,
                         env=dict(env, BOT_MODE="robots"), text=True)
    assert out.returncode == 2 and "BOT_MODE='robots'" in out.stderr
