"""`bot monitor` (evals/drift.py, drift_stats.py, topics.py, drift_command.py) on SQLite and PostgreSQL (`db_url`).

Three kinds of test:
* every count against a hand calculation on a few stored conversations (the counting rules);
* random traffic (tests/evals/traffic.py, several seeds, the shipped guardrails/monitor.yaml): normal traffic with its
  day-to-day swing raises no alert — while the band alone would fire now and then, see the `watch` test — and two
  synthetic drifts do: a batch of a new out-of-scope topic (also listed as an intent candidate) and a jump in
  negative sentiment; too little traffic is "not enough data", never an alert;
* the command: exit codes 0 / 1 / 2, the JSON, the WARNING log line with the metric in its fields.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.monitor_policy import Band, MonitorPolicy
from bot.persistence import Database
from bot.policy import PolicyError, load_monitor, load_policies
from evals.drift import Window, log_report, measure, run, windows
from evals.drift_stats import Sample, check, settle
from evals.topics import analyze, find_topics
from tests.evals.traffic import CRYPTO, DAY, Drift, Rates, build

SHIPPED = load_monitor(PROJECT_ROOT / "guardrails" / "monitor.yaml", required=True)
T0 = float(int(time.time()) - 2 * DAY)
CUSTOMER = {"id": None, "tier": "standard", "language": "en", "known": False}


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.close()


# -- the counting rules, by hand ---------------------------------------------------------------------------------------
def store(db: Database, cid: str, mode: str | None, start: float, turns: list[dict], *, blocked_turn: int | None = None,
          rating: float | None = None, stored_proxy: float | None = None) -> None:
    """One conversation as the engine stores it: `turns` are transcript rows; the bot row of `blocked_turn` is marked
    blocked by syncing the transcript up to it first (sync_transcript marks its last bot row)."""
    db.create_conversation(cid, CUSTOMER, "chat", {"name": "default", "mode": mode} if mode else None)
    rows = [{"ts": start + i, "text": f"{t['role']} {i}", **t} for i, t in enumerate(turns)]
    if blocked_turn is not None:
        upto = max(i for i, r in enumerate(rows) if r["role"] == "bot" and r["turn"] == blocked_turn)
        db.sync_transcript(cid, rows[: upto + 1], "ai", None, blocked=True)
    if rows:
        db.sync_transcript(cid, rows, "ai", None)
    with db.transaction() as conn:
        conn.execute("UPDATE conversations SET created_at = ? WHERE id = ?", (start, cid))
    if rating is not None:
        db.rate(cid, rating, "customer")
    if stored_proxy is not None:
        db.rate(cid, stored_proxy, "proxy")


def handoff(db: Database, cid: str, turn: int, reason: str, at: float) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO handoffs (conversation_id, turn, status, reason, priority, package, created_at,"
                     " updated_at) VALUES (?, ?, 'waiting', ?, 'normal', '{}', ?, ?)", (cid, turn, reason, at, at))


def flag(db: Database, cid: str, at: float) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO flags (id, conversation_id, turn, kind, agent, correction, observed, note,"
                     " created_at) VALUES (?, ?, 1, 'bad_answer', 'sam', '{}', '{}', NULL, ?)", (f"f-{cid}", cid, at))


def customer(turn: int) -> dict:
    return {"role": "customer", "turn": turn}


def bot(turn: int, intent: str | None, sentiment: float | None, confidence: float | None) -> dict:
    return {"role": "bot", "turn": turn, "intent": intent, "sentiment": sentiment, "confidence": confidence}


def hand_made(db: Database) -> None:
    """a1: 2 turns, turn 2 answered by two bot rows (one reading), out of scope, unsure, negative; rated 5.
    a2: stored before modes (NULL: ai_first); turn 1 blocked (no reading), turn 2 negative; handoffs
        negative_sentiment then customer_request (the first counts); no CSAT stored → proxy 3 + 2 × -0.8 = 1.4.
    a3: one greeting; stored proxy 3.6; flagged in the window.
    h1: human_led (not watched by the shipped policy): handoff human_led, flagged.
    e1: never written in (left out, counted as excluded).   old: two days earlier, flagged inside the window."""
    store(db, "a1", "ai_first", T0, [customer(1), bot(1, "order_status", 0.2, 0.9), customer(2),
                                     bot(2, "out_of_scope", -0.6, 0.4), bot(2, "out_of_scope", -0.6, 0.4)], rating=5)
    store(db, "a2", None, T0 + 10, [customer(1), bot(1, None, None, None), customer(2),
                                    bot(2, "complaint", -0.8, 0.7)], blocked_turn=1)
    handoff(db, "a2", 2, "negative_sentiment", T0 + 100)
    handoff(db, "a2", 3, "customer_request", T0 + 200)
    store(db, "a3", "ai_first", T0 + 20, [customer(1), bot(1, "greeting", 0.5, 0.95)], stored_proxy=3.6)
    flag(db, "a3", T0 + 500)
    store(db, "h1", "human_led", T0 + 30, [customer(1), bot(1, "billing", 0.0, 0.8)])
    handoff(db, "h1", 1, "human_led", T0 + 31)
    flag(db, "h1", T0 + 600)
    store(db, "e1", "ai_first", T0 + 40, [])
    store(db, "old", "ai_first", T0 - 2 * DAY, [customer(1), bot(1, "thanks", 0.9, 0.99)])
    flag(db, "old", T0 + 700)


def test_every_count_matches_the_hand_calculation(db):
    hand_made(db)
    window = Window("current", T0 - 60, T0 + DAY)
    f = measure(db, window, SHIPPED, proxy_turns=3)
    assert (f.conversations, f.excluded, f.contained) == (3, 1, 2)
    assert dict(f.first_reasons) == {"negative_sentiment": 1}  # a2's first handoff; h1 is human_led: not watched
    assert (f.customer_turns, f.blocked_turns) == (5, 1)
    assert (f.intent_turns, f.out_of_scope_turns) == (4, 1)  # a1's two rows of turn 2 are one reading
    assert (f.confidence_turns, f.unsure_turns) == (4, 1)
    assert (f.sentiment_turns, f.negative_turns) == (4, 2)
    assert f.ratings == [5.0] and sorted(f.proxies) == [1.4, 3.6]  # never mixed
    assert dict(f.flags) == {"bad_answer": 2}  # a3's and old's (made in the window); h1's is human_led

    every_mode = measure(db, window, SHIPPED.model_copy(update={"modes": []}), proxy_turns=3)
    assert every_mode.conversations == 4 and dict(every_mode.first_reasons) == {"negative_sentiment": 1,
                                                                                 "human_led": 1}
    assert sum(every_mode.flags.values()) == 3
    earlier = measure(db, Window("baseline", T0 - 3 * DAY, T0 - 60), SHIPPED)
    assert (earlier.conversations, earlier.ratings, dict(earlier.flags)) == (1, [], {})


def test_the_windows_follow_the_policy():
    now = 1_800_000_000.0
    current, baseline = windows(SHIPPED, now)
    assert (current.since, current.until) == (now - 900 - 24 * 3600, now - 900)  # 24 h, ending 15 min ago
    assert (baseline.since, baseline.until) == (current.since - 7 * DAY, current.since)
    current, baseline = windows(SHIPPED, now, current_hours=6, baseline_days=2)
    assert current.until - current.since == 6 * 3600 and baseline.until - baseline.since == 2 * DAY
    pinned = MonitorPolicy.model_validate({"window": {"pinned_baseline": {"since": "2026-11-02", "until":
                                                                          "2026-11-09T00:00+00:00"}}})
    _, fixed = windows(pinned, now)
    assert (fixed.since, fixed.until) == (1793577600.0, 1794182400.0)
    _, rolling = windows(pinned, now, baseline_days=3)  # an explicit --baseline-days wins over the pinned period
    assert rolling.until == windows(pinned, now)[0].since


# -- bands and noise ---------------------------------------------------------------------------------------------------
def test_a_band_needs_both_widths_exceeded():
    band = Band(direction="rise", absolute=0.02, relative=0.5)
    assert band.width(0.01) == 0.02 and band.limit(0.01) == pytest.approx(0.03)  # 1 % → alerts above 3 %
    assert band.width(0.2) == pytest.approx(0.1) and band.limit(0.2) == pytest.approx(0.3)
    assert Band(direction="drop", absolute=0.3).limit(4.1) == pytest.approx(3.8)


def test_beyond_the_band_at_low_counts_is_watch_not_alert():
    band = Band(direction="rise", absolute=0.02, relative=0.5, min_count=50)
    few = check("rail_block_rate", "share", band, Sample(100, 4), Sample(1000, 10), "turns")
    many = check("rail_block_rate", "share", band, Sample(1000, 40), Sample(10000, 100), "turns")
    inside = check("rail_block_rate", "share", band, Sample(1000, 25), Sample(10000, 100), "turns")
    short = check("rail_block_rate", "share", band, Sample(40, 20), Sample(10000, 100), "turns")
    alpha = settle([few, many, inside, short], 0.01)
    assert alpha == pytest.approx(0.01 / 3)  # three judged: the false-alarm budget is shared
    assert (few.current, few.limit, few.status) == (0.04, 0.03, "watch")  # 4 of 100: a tripled rate, and chance
    assert few.p_value > alpha and "within noise" in few.message
    assert many.status == "alert" and many.p_value < 1e-6 and many.message.startswith("rail_block_rate rose to 4.0%")
    assert inside.status == "ok" and short.status == "not_enough_data"
    assert short.message == "rail_block_rate: not enough data (40 turns in the current window; 50 needed in each)"


def test_ratings_and_flags_are_compared_with_their_own_tests():
    csat = Band(direction="drop", absolute=0.3, min_count=20)
    fell = check("csat", "rating", csat, Sample(40, values=[3.0, 4.0] * 20), Sample(40, values=[4.0, 5.0] * 20),
                 "ratings")
    flat = check("csat", "rating", csat, Sample(30, values=[4.0] * 30), Sample(30, values=[4.0] * 30), "ratings")
    flags = check("flag_rate", "per_conversation", Band(direction="rise", absolute=0.02, min_count=50),
                  Sample(200, 30), Sample(1400, 28), "conversations")
    settle([fell, flat, flags], 0.01)
    assert (fell.current, fell.baseline, fell.limit, fell.status) == (3.5, 4.5, 4.2, "alert")
    assert flat.status == "ok" and flat.p_value == 1.0  # no spread at all: scipy's nan handled
    assert flags.status == "alert" and "30 in 200 conversations vs 28 in 1,400" in flags.message


# -- random traffic: normal, drifted, too little -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_normal_traffic_raises_no_alert(db, seed):
    now = time.time()
    build(db, seed, now)
    report = run(db, SHIPPED, now=now)
    assert report["judged"] and report["status"] == "ok", report["message"]
    assert report["alerts"] == []
    judged = [m for m in report["metrics"] if m["status"] != "not_enough_data"]
    assert {m["metric"] for m in judged} >= {"containment", "escalation_rate", "rail_block_rate",
                                             "low_confidence_rate", "out_of_scope_rate", "negative_sentiment_rate",
                                             "csat", "csat_proxy", "flag_rate"}
    assert not any(t["alert"] for t in report["topics"])


def test_the_band_alone_would_have_alarmed_on_normal_traffic(tmp_path):
    """Why the noise test exists: across seeds of normal traffic, some figure leaves its band by chance (`watch`) —
    a fixed band alone would have alerted — while no alert fires."""
    watched = 0
    for seed in range(20, 26):
        database = Database(f"sqlite:///{tmp_path / f'{seed}.sqlite'}")
        now = time.time()
        build(database, seed, now)
        report = run(database, SHIPPED, now=now)
        database.close()
        assert report["alerts"] == [], report["message"]
        watched += any(m["status"] == "watch" for m in report["metrics"])
    assert watched >= 1


def test_a_batch_of_a_new_out_of_scope_topic_alerts_and_is_an_intent_candidate(db):
    now = time.time()
    build(db, 21, now, drift=Drift(topic=CRYPTO, topic_conversations=30))
    report = run(db, SHIPPED, now=now)
    assert report["status"] == "alert"
    alerts = {a["metric"]: a for a in report["alerts"]}
    assert set(alerts) == {"out_of_scope_rate", "new_topic"}, report["message"]
    [topic] = [t for t in report["topics"] if t["alert"]]
    assert topic["terms"][0] == "crypto wallet" and topic["new"]
    assert topic["conversations"] == 30 and topic["baseline_conversations"] <= 1
    assert len(topic["examples"]) == 3 and all(e.replace("wallets", "wallet").count("crypto wallet")
                                               for e in topic["examples"])
    assert alerts["new_topic"]["terms"] == topic["terms"] and "crypto wallet" in alerts["new_topic"]["message"]
    oos = alerts["out_of_scope_rate"]
    assert oos["current"] > oos["limit"] > oos["baseline"] and oos["p_value"] < report["alpha_per_test"]


def test_a_jump_in_negative_sentiment_alerts(db):
    now = time.time()
    build(db, 22, now, drift=Drift(rates=Rates(negative=0.25)))
    report = run(db, SHIPPED, now=now)
    assert [a["metric"] for a in report["alerts"]][:1] == ["negative_sentiment_rate"], report["message"]
    alert = report["alerts"][0]
    assert alert["direction"] == "rise" and alert["current"] > alert["limit"]
    assert alert["counts"]["current"]["of"] >= 100 and alert["counts"]["baseline"]["of"] >= 100


def test_too_little_traffic_is_not_enough_data_never_an_alert(db, caplog):
    now = time.time()
    build(db, 23, now, current_per_day=30, baseline_per_day=60, drift=Drift(rates=Rates(negative=0.6)))
    report = run(db, SHIPPED, now=now)
    assert report["status"] == "not_enough_data" and not report["judged"] and report["alerts"] == []
    assert "not enough data to judge" in report["message"] and "100 needed" in report["message"]
    assert {m["status"] for m in report["metrics"]} == {"not_enough_data"}
    negative = next(m for m in report["metrics"] if m["metric"] == "negative_sentiment_rate")
    assert negative["current"] > 3 * negative["baseline"]  # a huge move, and still not judged on 30 conversations
    with caplog.at_level(logging.WARNING, logger="evals.drift"):
        log_report(report)
    [record] = caplog.records
    assert "not enough data" in record.getMessage() and record.fields["monitor_status"] == "not_enough_data"


# -- out-of-scope topics -----------------------------------------------------------------------------------------------
def test_topics_group_alike_messages_and_keep_the_stored_text():
    assert analyze("My [EMAIL-3f9a] crypto wallets, order 12345!") == ["crypto", "wallet", "order", "crypto wallet",
                                                                       "wallet order"]
    policy = SHIPPED.topics.model_copy(update={"min_conversations": 4})
    current = [(f"c{i}", f"can I pay with my crypto wallet [EMAIL-{i:04x}]") for i in range(5)]
    current += [(f"d{i}", text) for i, text in enumerate(["what's the weather", "tell me a joke", "who won the game",
                                                           "book a flight to Rome", "set an alarm"])]
    baseline = [(f"b{i}", text) for i, text in enumerate(["what is the weather tomorrow", "a joke please"] * 10)]
    [topic] = find_topics(current, baseline, 10, 40, policy)
    assert topic.terms[0] == "crypto wallet" and topic.conversations == 5 and topic.baseline_conversations == 0
    assert topic.examples[0].startswith("can I pay with my crypto wallet [EMAIL-")  # as stored: redacted
    assert topic.new and topic.share == 0.5 and topic.p_value < 0.001
    steady = find_topics([(f"w{i}", "what is the weather tomorrow") for i in range(5)], baseline, 10, 40, policy)
    assert len(steady) == 1 and not steady[0].new and steady[0].baseline_conversations == 10
    assert find_topics([("x", "hi")] * 3, baseline, 3, 40, policy) == []


# -- the policy file ---------------------------------------------------------------------------------------------------
def test_the_policy_is_validated_with_the_file_and_field_named(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "guardrails", policies)
    assert load_policies(policies).monitor == SHIPPED
    path = policies / "monitor.yaml"
    text = path.read_text()
    for broken, fragment in [
        (text.replace("{direction: drop, absolute: 0.30, min_count: 20}", "{direction: drop, min_count: 20}"),
         "metrics.csat: Value error, a band needs `absolute`, `relative` or both"),
        (text.replace("modes: [ai_first]", "modes: [robots]"), "modes: Value error, unknown operating mode"),
        (text.replace("false_alarm_rate: 0.01", "false_alarm_rate: 5"), "false_alarm_rate"),
        (text.replace("direction: rise, absolute: 0.02", "direction: up, absolute: 0.02"), "rail_block_rate.direction"),
        (text + "\nsurprise: 1\n", "surprise"),
    ]:
        path.write_text(broken)
        with pytest.raises(PolicyError, match="monitor.yaml") as raised:
            load_policies(policies)
        assert fragment in str(raised.value)
    path.unlink()  # a policy directory from before monitor.yaml: the defaults
    assert load_policies(policies).monitor == MonitorPolicy()
    with pytest.raises(PolicyError, match="is missing"):
        load_monitor(path, required=True)


# -- the command -------------------------------------------------------------------------------------------------------
def bot_monitor(args: list[str], tmp_path: Path, db_url: str, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, BOT_DATA_DIR=str(tmp_path), BOT_DB_URL=db_url, OTEL_SDK_DISABLED="true",
                       COLUMNS="200", **env)
    environment.pop("BOT_POLICY_DIR", None)
    environment.pop("BOT_LOG_FORMAT", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "monitor", *args], capture_output=True, text=True,
                          timeout=180, env={**environment, **env}, cwd=tmp_path)


def test_check_exits_1_on_drift_with_the_json_and_a_json_log_line(db, db_url, tmp_path):
    build(db, 24, time.time(), drift=Drift(topic=CRYPTO, topic_conversations=30))
    out = tmp_path / "monitor.json"
    done = bot_monitor(["--check", "--json", str(out)], tmp_path, db_url, BOT_LOG_FORMAT="json")
    assert done.returncode == 1, done.stderr
    report = json.loads(out.read_text())
    assert set(report) >= {"generated_at", "status", "judged", "message", "modes", "windows", "false_alarm_rate",
                           "alpha_per_test", "metrics", "alerts", "topics", "policy"}
    assert report["status"] == "alert" and report["modes"] == ["ai_first"]
    assert set(report["windows"]["current"]) == {"since", "until", "conversations", "excluded"}
    for metric in report["metrics"]:
        assert set(metric) >= {"metric", "unit", "direction", "current", "baseline", "limit", "band", "counts",
                               "p_value", "status", "message"}
    assert {a["metric"] for a in report["alerts"]} == {"out_of_scope_rate", "new_topic"}
    flags = next(m for m in report["metrics"] if m["metric"] == "flag_rate")
    assert flags["by_kind"]["current"] == {"wrong_intent": flags["counts"]["current"]["events"]}
    for word in ("out_of_scope_rate", "ALERT", "crypto wallet", "intent candidates"):
        assert word in done.stdout
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    alerts = {line["metric"]: line for line in logged if line.get("monitor_status") == "alert"}
    assert set(alerts) == {"out_of_scope_rate", "new_topic"} and all(a["level"] == "WARNING" for a in logged)
    oos = alerts["out_of_scope_rate"]
    assert oos["current"] == report["alerts"][0]["current"] and oos["counts"] == report["alerts"][0]["counts"]
    assert oos["message"].startswith("monitor alert: out_of_scope_rate rose to")


def test_check_exits_0_on_normal_traffic_and_on_too_little(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    database = Database(url)
    build(database, 25, time.time())
    database.close()
    done = bot_monitor(["--check"], tmp_path, url)
    assert done.returncode == 0, done.stderr
    assert "no alert" in done.stdout and "WARNING" not in done.stderr
    done = bot_monitor(["--check", "--window-hours", "1"], tmp_path, url)  # one hour: a handful of conversations
    assert done.returncode == 0, done.stderr
    assert "not enough data" in done.stdout and "WARNING" in done.stderr and "not enough data" in done.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--window-hours", "a day"], "--window-hours 'a day': expected a number of hours"),
    (["--baseline-days", "0"], "--baseline-days '0'"),
    (["--policy", "{tmp}/nope.yaml"], "nope.yaml is missing"),
    (["--policy", "{tmp}/bad.yaml"], "bad.yaml: min_conversations.current"),
    (["--json", "{tmp}/missing/dir/out.json"], "cannot write there"),
])
def test_bad_input_is_one_error_line_exit_2(args, fragment, tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    Database(url).close()
    (tmp_path / "bad.yaml").write_text("min_conversations: {current: 0}\n")
    done = bot_monitor(["--check", *[a.replace("{tmp}", str(tmp_path)) for a in args]], tmp_path, url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], done.stderr
    assert done.stdout == ""


def test_no_database_yet_is_an_error(tmp_path):
    done = bot_monitor(["--check"], tmp_path, f"sqlite:///{tmp_path / 'nothing.sqlite'}")
    assert done.returncode == 2 and "no database at" in done.stderr
    assert not (tmp_path / "nothing.sqlite").exists()
