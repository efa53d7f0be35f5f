"""`bot roi` (evals/roi.py, bot/costs.py, bot/roi_cli.py): every figure against a hand calculation on SQLite and
PostgreSQL (`db_url`), nulls where there is no data, token prices of a paid endpoint, guardrails/costs.yaml's
validation, and the command (its JSON, its table of formulas, its one-line errors with exit 2).

The stored traffic is built with test_cohorts.py's helpers; times relative to T0, tokens (prompt, completion) on
bot rows by their position (seq) in the transcript:

  default / ai_first
    a1  contained; bot rows: (1200, 300) and one without an LLM call (NULL)
    a2  contained; (800, 200)
    a3  customer_request: claimed after 2 min, closed 5 min later (measured: 5 min); (1000, 500)
    a4  negative_sentiment: claimed after 1 min, still open (not measured: priced as a human conversation)
    a5  created, never written in: left out;   old  ten days before the window, contained
  pilot-human-led / human_led
    h1  human_led closed after 6 min, then handed back and escalated again, closed after 3 min (measured: 9 min);
        (2000, 400)
    h2  human_led closed after 4 min (measured: 4 min); (1500, 300)
  pilot-hybrid / hybrid:  y1 contained, no LLM call at all
  vip-hybrid / hybrid:    v1 complexity, still waiting (not measured); (500, 100)
                          v2 complexity closed after 10 min, then vip_customer still waiting (not measured:
                          one stint of two is no handle time); v3 complexity closed by an agent who never claimed it

Prices (COSTS): a human conversation 6.00, an AI conversation 0.15, an agent minute 0.60, baseline 8 minutes,
tokens 0.50 / 1.50 per 1000 (a paid endpoint's prices, large so that they show in cents).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.costs import CostsPolicy, PolicyError, load_costs
from bot.persistence import Database
from evals.cohorts import cohort_report
from evals.roi import DEFINITIONS, MONEY, roi_report
from tests.evals.test_cohorts import T0, WINDOW, conversation, handoff

COSTS = CostsPolicy(currency="EUR", human_conversation=6.00, ai_conversation=0.15, agent_minute=0.60,
                    baseline_handle_minutes=8.0, llm={"prompt_per_1k_tokens": 0.50, "completion_per_1k_tokens": 1.50})
H, A, MINUTE, BASE, PP, CP = 6.00, 0.15, 0.60, 8.0, 0.50, 1.50


def tokens(db: Database, cid: str, seq: int, prompt: int, completion: int) -> None:
    with db.transaction() as conn:
        updated = conn.execute("UPDATE messages SET prompt_tokens = ?, completion_tokens = ? WHERE conversation_id = ?"
                               " AND seq = ? AND role = 'bot'", (prompt, completion, cid, seq))
        assert updated.rowcount == 1


def build(db: Database) -> None:
    default, human, hybrid, vip = ("default", "ai_first"), ("pilot-human-led", "human_led"), \
        ("pilot-hybrid", "hybrid"), ("vip-hybrid", "hybrid")
    conversation(db, "a1", default, T0, [("customer", 0, 1, None), ("bot", 30, 1, 0.5), ("customer", 60, 2, None),
                                         ("bot", 90, 2, 0.2)])
    tokens(db, "a1", 1, 1200, 300)
    conversation(db, "a2", default, T0 + 10, [("customer", 0, 1, None), ("bot", 20, 1, 0.0)])
    tokens(db, "a2", 1, 800, 200)
    conversation(db, "a3", default, T0 + 20, [("customer", 0, 1, None), ("bot", 20, 1, -0.4)])
    tokens(db, "a3", 1, 1000, 500)
    handoff(db, "a3", 1, "customer_request", T0 + 60, claim_after_min=2, work_min=5)
    conversation(db, "a4", default, T0 + 30, [("customer", 0, 1, None), ("bot", 20, 1, -0.9)])
    handoff(db, "a4", 1, "negative_sentiment", T0 + 60, claim_after_min=1)
    conversation(db, "a5", default, T0 + 40, [])
    conversation(db, "old", default, T0 - 10 * 86400, [("customer", 0, 1, None), ("bot", 5, 1, 0.0)])

    conversation(db, "h1", human, T0 + 50, [("customer", 0, 1, None), ("bot", 10, 1, 0.0), ("agent", 100, 1, None),
                                            ("customer", 900, 2, None), ("bot", 910, 2, -0.2)])
    tokens(db, "h1", 1, 1200, 300)
    tokens(db, "h1", 4, 800, 100)
    handoff(db, "h1", 1, "human_led", T0 + 55, claim_after_min=1, work_min=6)
    handoff(db, "h1", 2, "negative_sentiment", T0 + 960, claim_after_min=2, work_min=3)
    conversation(db, "h2", human, T0 + 60, [("customer", 0, 1, None), ("bot", 10, 1, 0.1)])
    tokens(db, "h2", 1, 1500, 300)
    handoff(db, "h2", 1, "human_led", T0 + 65, claim_after_min=3, work_min=4)

    conversation(db, "y1", hybrid, T0 + 70, [("customer", 0, 1, None), ("bot", 15, 1, 0.4)])
    conversation(db, "v1", vip, T0 + 80, [("customer", 0, 1, None), ("bot", 30, 1, -0.5)])
    tokens(db, "v1", 1, 500, 100)
    handoff(db, "v1", 1, "complexity", T0 + 120)
    conversation(db, "v2", vip, T0 + 90, [("customer", 0, 1, None), ("bot", 30, 1, -0.5), ("customer", 900, 2, None),
                                          ("bot", 930, 2, -0.6)])
    handoff(db, "v2", 1, "complexity", T0 + 120, claim_after_min=1, work_min=10)
    handoff(db, "v2", 2, "vip_customer", T0 + 990)
    conversation(db, "v3", vip, T0 + 95, [("customer", 0, 1, None), ("bot", 30, 1, -0.5)])
    handoff(db, "v3", 1, "complexity", T0 + 125)
    with db.transaction() as conn:  # Queue.close on a waiting handoff: closed, never claimed
        conn.execute("UPDATE handoffs SET status = 'resolved', closed_at = ? WHERE conversation_id = 'v3'", (T0 + 600,))


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    build(database)
    yield database
    database.close()


def values(group: dict) -> dict:
    return {name: figure["value"] for name, figure in group["money"].items()}


def test_every_figure_matches_the_hand_calculation(db):
    report = roi_report(db, COSTS, *WINDOW)
    assert report["window"] == {"since": WINDOW[0], "until": WINDOW[1]} and report["currency"] == "EUR"
    assert report["excluded"] == {"no_customer_message": 1}  # a5
    assert report["definitions"] == DEFINITIONS and set(MONEY) <= set(DEFINITIONS)
    assert report["costs"]["llm"] == {"prompt_per_1k_tokens": 0.5, "completion_per_1k_tokens": 1.5}
    groups = {(g["cohort"], g["mode"]): g for g in report["cohorts"]}
    assert list(groups) == [("default", "ai_first"), ("pilot-human-led", "human_led"),
                            ("pilot-hybrid", "hybrid"), ("vip-hybrid", "hybrid")]

    a = groups[("default", "ai_first")]  # a1, a2 contained; a3 measured (5 min); a4 open
    assert (a["conversations"], a["contained"], a["escalated"]) == (4, 2, 2)
    assert a["tokens"] == {"prompt": 1200 + 800 + 1000, "completion": 300 + 200 + 500, "bot_turns": 5,
                           "bot_turns_with_llm": 3}
    assert a["handle_time"] == {"measured": 1, "unmeasured": 1, "agent_minutes": 5.0,
                                "agent_minutes_per_conversation": 5.0, "baseline_minutes": 8.0,
                                "change_minutes": 5.0 - 8.0}
    llm = 3000 / 1000 * PP + 1000 / 1000 * CP  # 1.50 + 1.50
    handle = (1 * BASE - 5) * MINUTE  # three minutes saved on a3
    escalations = 2 * H + (5 - 1 * BASE) * MINUTE  # a3 and a4 a human conversation each, a3 three minutes less
    expected = {
        "baseline_cost": 4 * H,
        "ai_cost": 4 * A,
        "llm_cost": llm,
        "cost_escalations": escalations,
        "actual_cost": 4 * A + escalations + llm,
        "savings_containment": 2 * H - 4 * A,
        "savings_handle_time": handle,
        "net_savings": 4 * H - (4 * A + escalations + llm),
        "savings_per_conversation": (4 * H - (4 * A + escalations + llm)) / 4,
    }
    assert values(a) == {name: round(value, 2) for name, value in expected.items()}
    assert values(a) == {"baseline_cost": 24.00, "ai_cost": 0.60, "llm_cost": 3.00, "cost_escalations": 10.20,
                         "actual_cost": 13.80, "savings_containment": 11.40, "savings_handle_time": 1.80,
                         "net_savings": 10.20, "savings_per_conversation": 2.55}  # the numbers, for the README
    assert a["notes"] == ["1 escalated conversation(s) without measured agent time (a handoff open, or closed"
                          " without a claim) are priced at human_conversation"]

    h = groups[("pilot-human-led", "human_led")]  # every conversation with a person; both measured
    assert (h["conversations"], h["contained"], h["escalated"]) == (2, 0, 2)
    assert h["tokens"]["prompt"] == 1200 + 800 + 1500 and h["tokens"]["completion"] == 300 + 100 + 300
    # h1's two stints (6 + 3) are one conversation's time: (9 + 4) / 2, not `bot report`'s (6 + 3 + 4) / 3
    assert h["handle_time"] == {"measured": 2, "unmeasured": 0, "agent_minutes": 13.0,
                                "agent_minutes_per_conversation": 6.5, "baseline_minutes": 8.0, "change_minutes": -1.5}
    assert cohort_report(db, *WINDOW)["cohorts"][1]["handle_time"]["agent_minutes"] == round(13 / 3, 2)
    llm = 3500 / 1000 * PP + 700 / 1000 * CP  # 1.75 + 1.05
    handle = (2 * BASE - (9 + 4)) * MINUTE
    escalations = 2 * H + ((9 + 4) - 2 * BASE) * MINUTE
    expected = {
        "baseline_cost": 2 * H,
        "ai_cost": 2 * A,
        "llm_cost": llm,
        "cost_escalations": escalations,
        "actual_cost": 2 * A + escalations + llm,
        "savings_containment": 0 * H - 2 * A,  # nothing contained, and the AI still costs
        "savings_handle_time": handle,
        "net_savings": 2 * H - (2 * A + escalations + llm),
        "savings_per_conversation": (2 * H - (2 * A + escalations + llm)) / 2,
    }
    assert values(h) == {name: round(value, 2) for name, value in expected.items()}
    assert values(h)["net_savings"] == -1.30  # human-led loses money here: the minutes saved do not pay the tokens
    assert h["notes"] == []

    y = groups[("pilot-hybrid", "hybrid")]
    assert values(y)["net_savings"] == round(1 * H - (1 * A + 0 * H + 0), 2) == 5.85
    v = groups[("vip-hybrid", "hybrid")]  # v1, v2, v3: escalated, none measured, a whole human conversation each
    assert (v["conversations"], v["contained"], v["escalated"]) == (3, 0, 3)
    assert v["handle_time"]["measured"] == 0 and v["handle_time"]["unmeasured"] == 3
    v_llm = 500 / 1000 * PP + 100 / 1000 * CP
    assert values(v)["cost_escalations"] == 3 * H and values(v)["llm_cost"] == round(v_llm, 2) == 0.40
    assert values(v)["net_savings"] == round(3 * H - (3 * A + 3 * H + v_llm), 2) == -0.85

    hybrid = report["modes"]["hybrid"]  # y1 and v1-v3 together, not an average of the two cohorts
    assert list(report["modes"]) == ["ai_first", "human_led", "hybrid"]
    assert report["modes"]["ai_first"] == {k: v for k, v in a.items() if k not in ("cohort", "mode")}
    assert (hybrid["conversations"], hybrid["contained"], hybrid["escalated"]) == (4, 1, 3)
    assert values(hybrid) == {
        "baseline_cost": round(4 * H, 2), "ai_cost": round(4 * A, 2), "llm_cost": round(v_llm, 2),
        "cost_escalations": round(3 * H, 2), "actual_cost": round(4 * A + 3 * H + v_llm, 2),
        "savings_containment": round(1 * H - 4 * A, 2), "savings_handle_time": None,
        "net_savings": round(4 * H - (4 * A + 3 * H + v_llm), 2),
        "savings_per_conversation": round((4 * H - (4 * A + 3 * H + v_llm)) / 4, 2),
    }


def test_the_parts_add_up_to_the_net_in_every_group(db):
    report = roi_report(db, COSTS, *WINDOW)
    for g in report["cohorts"] + list(report["modes"].values()):
        v = values(g)
        assert v["baseline_cost"] == pytest.approx(g["conversations"] * H)
        assert v["net_savings"] == pytest.approx(v["baseline_cost"] - v["actual_cost"], abs=0.011)
        parts = v["savings_containment"] + (v["savings_handle_time"] or 0) - v["llm_cost"]
        assert v["net_savings"] == pytest.approx(parts, abs=0.011)
        assert v["actual_cost"] == pytest.approx(v["ai_cost"] + v["cost_escalations"] + v["llm_cost"], abs=0.011)


def test_each_figure_states_its_formula_with_the_numbers(db):
    a = roi_report(db, COSTS, *WINDOW)["cohorts"][0]["money"]
    assert a["savings_containment"]["formula"] == (
        "savings_containment = contained x human_conversation - conversations x ai_conversation = 2 x 6.00 - 4 x 0.15"
        " = 11.40")
    assert a["cost_escalations"]["formula"] == (
        "cost_escalations = escalated x human_conversation + (measured agent minutes - measured x"
        " baseline_handle_minutes) x agent_minute = 2 x 6.00 + (5.00 - 1 x 8.00) x 0.60 = 10.20")
    assert a["llm_cost"]["formula"].endswith("= 3000 / 1000 x 0.50 + 1000 / 1000 x 1.50 = 3.00")
    assert a["savings_handle_time"]["formula"].endswith("= (1 x 8.00 - 5.00) x 0.60 = 1.80")
    assert a["net_savings"]["formula"] == ("net_savings = baseline_cost - actual_cost = 24.00 - 13.80 = 10.20"
                                           " (= savings_containment + savings_handle_time - llm_cost"
                                           " = 11.40 + 1.80 - 3.00)")
    assert a["savings_per_conversation"]["formula"] == "savings_per_conversation = net_savings / conversations" \
                                                       " = 10.20 / 4 = 2.55"
    for figure in a.values():  # every formula ends in the figure it explains
        assert figure["formula"].endswith(f"= {figure['value']:.2f}") or "(= " in figure["formula"]


def test_no_data_is_null_not_zero(db):
    report = roi_report(db, COSTS, *WINDOW)
    y = report["cohorts"][2]  # one contained conversation: no escalation, nothing to time, no LLM call
    assert y["cohort"] == "pilot-hybrid"
    assert y["handle_time"] == {"measured": 0, "unmeasured": 0, "agent_minutes": None,
                                "agent_minutes_per_conversation": None, "baseline_minutes": 8.0,
                                "change_minutes": None}
    assert y["money"]["savings_handle_time"]["value"] is None
    assert "no data" in y["money"]["savings_handle_time"]["formula"]
    assert y["money"]["cost_escalations"]["value"] == 0.0  # a measured zero: no conversation was escalated
    assert y["tokens"] == {"prompt": 0, "completion": 0, "bot_turns": 1, "bot_turns_with_llm": 0}
    assert any("recorded LLM tokens" in note for note in y["notes"])  # priced tokens, none stored: said so
    v = report["cohorts"][3]  # escalated but never claimed (or only partly timed): priced as human conversations
    assert v["handle_time"]["agent_minutes_per_conversation"] is None and v["handle_time"]["unmeasured"] == 3
    assert v["money"]["cost_escalations"]["formula"] == (
        "cost_escalations = escalated x human_conversation = 3 x 6.00 = 18.00 (no escalated conversation with"
        " measured agent time: each costs a human conversation)")
    assert roi_report(db, COSTS, T0 + 2 * 86400)["cohorts"] == []


def test_the_embedded_model_costs_no_tokens_and_the_window_applies(db):
    local = CostsPolicy.model_validate({**COSTS.model_dump(), "llm": {}})  # no prices: the embedded model
    paid, free = roi_report(db, COSTS, *WINDOW), roi_report(db, local, *WINDOW)
    for g_paid, g_free in zip(paid["cohorts"], free["cohorts"]):
        assert g_free["money"]["llm_cost"]["value"] == 0.0 and g_free["tokens"] == g_paid["tokens"]
        assert values(g_free)["net_savings"] == pytest.approx(
            values(g_paid)["net_savings"] + values(g_paid)["llm_cost"], abs=0.011)
        assert not any("recorded LLM tokens" in note for note in g_free["notes"])  # 0 x nothing needs no tokens
    # The whole history: "old" (contained, no tokens) joins default / ai_first.
    everything = roi_report(db, COSTS)["cohorts"][0]
    assert (everything["conversations"], everything["contained"]) == (5, 3)
    assert values(everything)["savings_containment"] == round(3 * 6.00 - 5 * 0.15, 2)
    before = roi_report(db, COSTS, 0.0, WINDOW[0])
    assert [(g["cohort"], g["conversations"]) for g in before["cohorts"]] == [("default", 1)]


# -- guardrails/costs.yaml ---------------------------------------------------------------------------------------------

def test_the_shipped_costs_file_is_valid_and_documents_every_key():
    path = PROJECT_ROOT / "guardrails" / "costs.yaml"
    costs = load_costs(path)
    assert costs.llm.prompt_per_1k_tokens == 0 and costs.llm.completion_per_1k_tokens == 0  # the embedded model
    text = path.read_text()
    assert "Reviewed by" in text and "EXAMPLES" in text
    for key in ("currency", "human_conversation", "ai_conversation", "agent_minute", "baseline_handle_minutes",
                "prompt_per_1k_tokens", "completion_per_1k_tokens"):
        assert f"{key}:" in text


GOOD = {"currency": "EUR", "human_conversation": 6.0, "ai_conversation": 0.15, "agent_minute": 0.6,
        "baseline_handle_minutes": 8, "llm": {"prompt_per_1k_tokens": 0, "completion_per_1k_tokens": 0}}


@pytest.mark.parametrize("change, fragment", [
    ({"human_conversations": 6.0}, "human_conversations: Extra inputs are not permitted"),
    *[({key: -0.1}, f"{key}: Input should be greater than or equal to 0") for key in (
        "human_conversation", "ai_conversation", "agent_minute", "baseline_handle_minutes")],
    ({"agent_minute": "cheap"}, "agent_minute: Input should be a valid number"),
    ({"agent_minute": True}, "agent_minute: Value error, expected a number, not true/false"),
    ({"human_conversation": float("inf")}, "human_conversation: Value error, expected a finite number"),
    ({"llm": {"prompt_per_1k_tokens": -1}}, "llm.prompt_per_1k_tokens: Input should be greater than or equal to 0"),
    ({"llm": {"completion_per_1k_tokens": -1}}, "llm.completion_per_1k_tokens: Input should be greater than or equal"),
    ({"llm": {"completion_per_1k_tokens": False}}, "llm.completion_per_1k_tokens: Value error, expected a number"),
    ({"llm": {"per_token": 0.1}}, "llm.per_token: Extra inputs are not permitted"),
    ({"currency": ""}, "currency: String should have at least 1 character"),
    ({"baseline_handle_minutes": 20}, "baseline_handle_minutes: Value error, 20 minutes x agent_minute 0.6 = 12"),
    ({"human_conversation": None}, "human_conversation: Input should be a valid number"),
])
def test_a_bad_costs_file_is_refused_naming_the_file_and_key(change, fragment, tmp_path):
    path = tmp_path / "costs.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **change}))
    with pytest.raises(PolicyError) as caught:
        load_costs(path)
    assert str(caught.value).startswith(f"{path}: ") and fragment in str(caught.value)


def test_a_missing_key_or_file_is_refused(tmp_path):
    path = tmp_path / "costs.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in GOOD.items() if k != "agent_minute"}))
    with pytest.raises(PolicyError, match="agent_minute: Field required"):
        load_costs(path)
    path.write_text(yaml.safe_dump({k: v for k, v in GOOD.items() if k != "llm"}))
    assert load_costs(path).llm.prompt_per_1k_tokens == 0  # llm may be left out: the embedded model
    with pytest.raises(PolicyError, match="is missing"):
        load_costs(tmp_path / "nothing.yaml")
    path.write_text("currency: [EUR\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_costs(path)


def run_bot(args: list[str], tmp_path: Path, db_url: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BOT_DATA_DIR=str(tmp_path), BOT_DB_URL=db_url, OTEL_SDK_DISABLED="true", COLUMNS="250")
    for name in ("BOT_POLICY_DIR", "BOT_LLM_BASE_URL"):
        env.pop(name, None)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)


def test_policy_check_validates_costs_yaml(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "guardrails", policies)
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    ok = run_bot(["policy", "check"], tmp_path, url, BOT_POLICY_DIR=str(policies))
    assert ok.returncode == 0, ok.stderr
    (policies / "costs.yaml").write_text(yaml.safe_dump({**GOOD, "agent_minute": -1}))
    bad = run_bot(["policy", "check"], tmp_path, url, BOT_POLICY_DIR=str(policies))
    assert bad.returncode == 2 and f"{policies / 'costs.yaml'}: agent_minute" in bad.stderr, bad.stderr
    (policies / "costs.yaml").unlink()  # a policy folder from before costs.yaml: only `bot roi` needs it
    older = run_bot(["policy", "check"], tmp_path, url, BOT_POLICY_DIR=str(policies))
    assert older.returncode == 0, older.stderr
    roi = run_bot(["roi"], tmp_path, url, BOT_POLICY_DIR=str(policies))
    assert roi.returncode == 2 and "costs.yaml is missing" in roi.stderr


# -- the command -------------------------------------------------------------------------------------------------------

@pytest.fixture
def costs_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(COSTS.model_dump()))
    return path


def test_bot_roi_writes_the_json_and_prints_the_formulas(db, db_url, tmp_path, costs_file):
    out = tmp_path / "roi.json"
    done = run_bot(["roi", "--costs", str(costs_file), "--json", str(out)], tmp_path, db_url)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    expected = {**roi_report(db, COSTS), "mode": None, "costs_file": str(costs_file), "notes": []}
    assert written == json.loads(json.dumps(expected))
    assert set(written) >= {"window", "currency", "costs", "rounding", "excluded", "definitions", "cohorts", "modes"}
    for text in ("pilot-human-led", "vip-hybrid", "net_savings", "Definitions", "Rounding",
                 "contained x human_conversation - conversations x ai_conversation"):
        assert text in done.stdout
    assert "0 x 6.00 - 2 x 0.15 = -0.30" in done.stdout  # pilot-human-led's containment, numbers and all
    assert "hybrid / all" in done.stdout and "ai_first / all" not in done.stdout  # one cohort: no copy of it
    assert f"wrote {out}" in done.stderr

    since = str(int(T0 - 86400))  # epoch seconds: "old" (ten days back) drops out
    only = run_bot(["roi", "--costs", str(costs_file), "--mode", "ai_first", "--since", since, "--json", str(out)],
                   tmp_path, db_url)
    assert only.returncode == 0, only.stderr
    written = json.loads(out.read_text())
    assert [g["cohort"] for g in written["cohorts"]] == ["default"] and list(written["modes"]) == ["ai_first"]
    assert written["mode"] == "ai_first" and written["window"]["since"] == float(since)
    assert written["modes"]["ai_first"]["money"]["net_savings"]["value"] == 10.20  # the hand calculation above
    days = run_bot(["roi", "--costs", str(costs_file), "--since-days", "1", "--json", str(out)], tmp_path, db_url)
    assert days.returncode == 0 and json.loads(out.read_text())["modes"]["ai_first"]["conversations"] == 4


def test_bot_roi_with_the_shipped_prices_and_an_endpoint_notes_free_tokens(db, db_url, tmp_path):
    out = tmp_path / "roi.json"
    done = run_bot(["roi", "--json", str(out)], tmp_path, db_url, BOT_LLM_BASE_URL="http://127.0.0.1:9/v1")
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    assert written["costs_file"] == str(PROJECT_ROOT / "guardrails" / "costs.yaml")
    assert written["costs"] == load_costs(PROJECT_ROOT / "guardrails" / "costs.yaml").model_dump()
    assert len(written["notes"]) == 1 and "BOT_LLM_BASE_URL is set" in written["notes"][0]
    assert "note: BOT_LLM_BASE_URL" in done.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--since", "last tuesday"], "--since 'last tuesday'"),
    (["--since", "-5"], "epoch seconds must be a number, 0 or more"),
    (["--since", "nan"], "epoch seconds must be a number"),
    (["--since-days", "-1"], "--since-days '-1'"),
    (["--since-days", "1", "--since", "2026-11-01"], "not both"),
    (["--mode", "robots_only"], "--mode 'robots_only'"),
    (["--json", "{tmp}/missing/dir/roi.json"], "cannot write there"),
    (["--json", "{tmp}"], "is a directory"),
    (["--costs", "{tmp}/nothing.yaml"], "nothing.yaml is missing"),
    (["--costs", "{tmp}"], "is a directory, not a costs file"),
    (["--costs", "{tmp}/bad.yaml"], "bad.yaml: agent_minute: Input should be greater than or equal to 0"),
])
def test_bad_input_is_one_error_line_and_nothing_written(args, fragment, tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    Database(url).close()
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**GOOD, "agent_minute": -0.5}))
    before = sorted(tmp_path.rglob("*"))
    done = run_bot(["roi", *(a.replace("{tmp}", str(tmp_path)) for a in args)], tmp_path, url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], done.stderr
    assert done.stdout == "" and sorted(tmp_path.rglob("*")) == before


def test_no_database_yet_is_an_error_not_a_new_file(tmp_path):
    done = run_bot(["roi"], tmp_path, f"sqlite:///{tmp_path / 'nothing.sqlite'}")
    assert done.returncode == 2 and "no database at" in done.stderr
    assert not (tmp_path / "nothing.sqlite").exists()
