"""The learning loop end to end, on the real classifier and a real database: an agent's flag becomes an eval case that
fails on the old model, `bot train` learns the correction and the same case passes (in the running bot too); a model
that loses on a gated metric is refused and nothing changes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.desk import Desk
from bot.engine import Engine
from bot.nlu import NLU, registry
from bot.nlu.intents import CACHE_FILE
from evals import train
from tests.fakes import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
OOS_DAMAGE = "the subwoofer from my last order rattles at any volume"  # shipped model: out_of_scope, ~0.92
GATE = [
    ("g-1", ["where is my order A10002?"], ["order_status"], False, None),
    ("g-2", ["has my order A10002 shipped yet?"], ["order_status"], False, None),
    ("g-3", ["I want to talk to a human"], ["human_request"], True, "customer_request"),
    ("g-4", ["I want to return the lamp I bought, how do I get a refund?"], ["return_refund"], False, None),
    ("g-5", ["the mug I ordered arrived chipped"], ["damaged_item"], None, None),
]


@pytest.fixture
def loop(settings, shared_nlu, monkeypatch, tmp_path):
    """The CLI's environment on the test's data dir (with the shipped model already cached there), a small gate set,
    and an engine whose NLU follows the data dir's active model like `bot serve`'s does."""
    nlu_dir = settings.data_dir / "nlu"
    nlu_dir.mkdir()
    shutil.copy(shared_nlu.cache_dir / CACHE_FILE, nlu_dir / CACHE_FILE)  # no 5 s retraining of the shipped model
    env = {"BOT_DB_URL": settings.db_url, "BOT_DATA_DIR": str(settings.data_dir),
           "BOT_STORE_DB": str(settings.store_db), "BOT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "BOT_LLM_TIMEOUT": "1",
           "BOT_AGENT": "sam", "COLUMNS": "200", "OTEL_SDK_DISABLED": "true"}
    for key in ("BOT_LLM_MODEL", "BOT_LLM_API_KEY", "OPENAI_API_KEY", "BOT_LOCAL_MODEL", "BOT_POLICY_DIR",
                "BOT_INTENT_MODEL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    gate = tmp_path / "gate.jsonl"
    gate.write_text("".join(json.dumps({
        "id": cid, "customer": {"id": "cust-1"}, "turns": [{"role": "customer", "text": t} for t in texts],
        "expect": {"intents": intents, "handoff": handoff, "handoff_reason": reason,
                   "handoff_by_turn": 1 if handoff else None, "blocked_turns": []}}) + "\n"
        for cid, texts, intents, handoff, reason in GATE))
    engine = Engine.from_settings(settings, FakeLLM().client(), nlu=NLU(nlu_dir))
    yield engine, gate
    engine.close()


def _published(engine):
    with engine.db.reading() as conn:
        return conn.execute("SELECT sha256 FROM intent_model_active WHERE id = 1").fetchone()[0]


def cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _eval(path: Path, out: Path, *more: str):
    return cli("eval", str(path), "--llm", "stub", "--workers", "1", "--json", str(out), *more)


def test_flag_export_fails_then_train_and_it_passes(loop, tmp_path):
    engine, gate = loop
    conv = engine.start("cust-1")
    assert engine.turn(conv, OOS_DAMAGE).intent == "out_of_scope"  # the mistake, in production
    flagged = cli("agent", "flag", conv, "wrong_intent", "--turn", "1", "--intent", "damaged_item",
                  "--note", "a rattling subwoofer is a faulty product")
    assert flagged.exit_code == 0, flagged.stderr

    cases = tmp_path / "feedback.jsonl"
    exported = cli("feedback", "export", "--out", str(cases))
    assert exported.exit_code == 0 and "wrote 1 case(s)" in exported.stderr
    [case] = [json.loads(line) for line in cases.read_text().splitlines()]
    assert case["id"] == f"fb-{conv}" and case["expect"] == {"intents": ["damaged_item"]}
    assert case["turns"][0] == {"role": "customer", "text": OOS_DAMAGE}

    before = _eval(cases, tmp_path / "before.json", "--fail-under", "intent_accuracy=1.0")
    assert before.exit_code == 1  # the exported case fails on the old behaviour
    assert json.loads((tmp_path / "before.json").read_text())["intent_accuracy"] == 0.0

    trained = cli("train", "--gate-set", str(gate), "--workers", "1", "--json", str(tmp_path / "train.json"))
    assert trained.exit_code == 0, trained.stdout + trained.stderr
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["decision"] == "activated" and report["current_model"] == "shipped"
    assert report["corrections"]["items"] == [{"text": OOS_DAMAGE, "intent": "damaged_item", "before": "out_of_scope",
                                               "after": "damaged_item", "flags": [flagged.stdout.split("(")[1][:14]]}]
    assert report["feedback_cases"]["before"]["failed"] == 1 and report["feedback_cases"]["after"]["failed"] == 0
    assert {g["metric"] for g in report["gate"]} == set(train.GATE) and not any(g["lost"] for g in report["gate"])
    active = registry.read_active(engine.deps.nlu.cache_dir)
    assert active is not None and Path(report["candidate"]) == active.path(engine.deps.nlu.cache_dir)
    assert _published(engine) == active.sha256  # other hosts follow it (bot/model_sync.py)

    after = _eval(cases, tmp_path / "after.json", "--fail-under", "intent_accuracy=1.0")
    assert after.exit_code == 0 and json.loads((tmp_path / "after.json").read_text())["intent_accuracy"] == 1.0
    # the bot that was running all along switches to the new model on its next message
    again = engine.start("cust-1")
    assert engine.turn(again, OOS_DAMAGE).intent == "damaged_item"
    assert engine.deps.nlu.model_source == f"retrained {active.model}"

    assert cli("train", "--rollback").exit_code == 0  # back to the shipped model: the case fails again
    assert _published(engine) is None
    assert _eval(cases, tmp_path / "rolled.json", "--fail-under", "intent_accuracy=1.0").exit_code == 1
    assert engine.turn(engine.start("cust-1"), OOS_DAMAGE).intent == "out_of_scope"
    assert "nothing to roll back" in cli("train", "--rollback").stderr


def test_a_model_that_loses_on_a_gated_metric_is_refused(loop, tmp_path):
    engine, gate = loop
    desk = Desk(engine)
    # a careless agent labels order-status questions as billing: learnt, they would break the gate set's g-1 and g-2
    for text in ("where is my order A10002?", "has my order A10002 shipped yet?", "where is my package",
                 "when will my order arrive", "track my order please"):
        conv = engine.start("cust-1")
        engine.turn(conv, text)
        desk.flag(conv, "pat", "wrong_intent", turn=1, intent="billing")
    refused = cli("train", "--gate-set", str(gate), "--workers", "1", "--json", str(tmp_path / "train.json"))
    assert refused.exit_code == 1, refused.stdout + refused.stderr
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["decision"] == "refused" and report["candidate"] is None
    lost = {g["metric"]: g for g in report["gate"] if g["lost"]}
    assert "intent_accuracy" in lost and lost["intent_accuracy"]["after"] < lost["intent_accuracy"]["before"]
    assert any(w.startswith("intent_accuracy") and w.endswith("(worse)") for w in report["why"])
    assert "refused" in refused.stdout and "worse" in refused.stdout
    # nothing changed: no activation record, no model file left behind, the bot still reads them as before
    nlu_dir = engine.deps.nlu.cache_dir
    assert registry.read_active(nlu_dir) is None and not list((nlu_dir / registry.TRAINED).glob("*.npz"))
    assert engine.turn(engine.start("cust-1"), "where is my order A10002?").intent == "order_status"


def test_dry_run_reports_without_activating_and_no_flags_is_a_clear_error(loop, tmp_path):
    engine, gate = loop
    nothing = cli("train", "--gate-set", str(gate), "--workers", "1")
    assert nothing.exit_code == 2 and "no corrected labels to learn from" in nothing.stderr
    conv = engine.start("cust-1")
    engine.turn(conv, OOS_DAMAGE)
    Desk(engine).flag(conv, "sam", "wrong_intent", turn=1, intent="damaged_item")
    dry = cli("train", "--gate-set", str(gate), "--workers", "1", "--dry-run")
    assert dry.exit_code == 0 and "dry_run" in dry.stdout
    assert registry.read_active(engine.deps.nlu.cache_dir) is None
    missing = cli("train", "--gate-set", str(tmp_path / "nope.jsonl"), "--workers", "1")
    assert missing.exit_code == 2 and "nope.jsonl" in missing.stderr


def test_corrections_take_the_latest_label_and_misrouted_requests_for_a_person():
    from bot.feedback import Flag

    def flag(fid, at, kind, text, correction):
        return Flag(fid, "c-1", 1, kind, "sam", correction, {"turn": {"customer": text}}, None, at)

    fixes = train.corrections([
        flag("f-3", 3.0, "wrong_intent", "Where is my ORDER", {"intent": "shipping_info"}),
        flag("f-1", 1.0, "wrong_intent", "where is my order", {"intent": "billing"}),
        flag("f-2", 2.0, "misrouted", "can a real one read this",
             {"handoff": True, "handoff_reason": "customer_request"}),
        flag("f-4", 4.0, "misrouted", "this is fraud", {"handoff": True, "handoff_reason": "high_stakes"}),
        flag("f-5", 5.0, "bad_answer", "hi", {"reply": "x"}),
    ])
    assert [(c.text, c.intent, c.flags, c.source) for c in fixes] == [
        ("Where is my ORDER", "shipping_info", ("f-3",), "wrong_intent"),
        ("can a real one read this", "human_request", ("f-2",), "misrouted"),
    ]


def test_the_gate_is_the_makefiles():
    makefile = (ROOT / "Makefile").read_text()
    sets = re.search(r"^EVAL_GATE_SETS := (.+)$", makefile, re.M).group(1).split()
    assert [str(p.relative_to(ROOT)) for p in train.GATE_SETS] == sets
    block = re.search(r"^EVAL_GATE := (.+)$", makefile.replace("\\\n", " "), re.M).group(1)
    assert dict((k, float(v)) for k, v in re.findall(r"--fail-under (\S+?)=(\S+)", block)) == train.GATE


def test_a_misrouted_flag_becomes_a_case_that_the_suggested_threshold_fixes(loop, tmp_path, monkeypatch):
    """The other half of "passes after retraining/correction": a rule, corrected by a person from the suggestion."""
    engine, _ = loop
    conv = engine.start("cust-1")
    handed = engine.turn(conv, "I hate waiting, this is awful")  # VADER -0.77: at or below single_turn_threshold -0.75
    assert handed.handoff and handed.handoff_reason == "negative_sentiment"
    flagged = cli("agent", "flag", conv, "misrouted", "--no-handoff", "--note", "venting; the order is on time")
    assert flagged.exit_code == 0, flagged.stderr
    cases = tmp_path / "feedback.jsonl"
    assert cli("feedback", "export", "--out", str(cases)).exit_code == 0
    [case] = [json.loads(line) for line in cases.read_text().splitlines()]
    assert case["expect"] == {"handoff": False, "handoff_reason": None, "handoff_by_turn": None}
    assert _eval(cases, tmp_path / "before.json", "--fail-under", "containment_rate=1.0").exit_code == 1

    [suggestion] = json.loads(cli("feedback", "suggest", "--json").stdout)
    change = suggestion["change"]
    assert change["key"] == "negative_sentiment.single_turn_threshold" and change["from"] == -0.75
    assert change["to"] == round(engine.state(conv)["sentiment_trail"][0] - 0.01, 2)  # just past the flagged -0.77
    policies = tmp_path / "policies"  # the person accepts it: the one line edited in a copy of the policy files
    shutil.copytree(ROOT / "guardrails", policies)
    escalation = policies / "escalation.yaml"
    edited = escalation.read_text().replace("single_turn_threshold: -0.75", f"single_turn_threshold: {change['to']}")
    assert edited != escalation.read_text()
    escalation.write_text(edited)
    monkeypatch.setenv("BOT_POLICY_DIR", str(policies))
    assert _eval(cases, tmp_path / "after.json", "--fail-under", "containment_rate=1.0").exit_code == 0
