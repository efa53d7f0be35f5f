"""`bot report` (evals/cohorts.py): every figure of the cohort report against a hand calculation, on SQLite and
PostgreSQL (`db_url`), and the command itself: its JSON file and its one-line errors (exit 2, nothing written).

The stored traffic, relative to T0 (times in seconds; sentiments ride on bot rows, as the engine stores them):

  default / ai_first
    a1  4 msgs 0..130 s, turn 2 answered twice (one reading); customer rated 5; no handoff
    a2  made before cohorts (NULL mode and cohort); 4 turns, readings -0.5, -1.0, 0.0, 0.5 → proxy of the last 3
        = 3 + 2 × (-0.5 / 3) = 2.67 → 2.7, computed now; handoff customer_request, claimed after 2 min, closed 10 later
    a3  stored proxy 2.0 (its reading 0.9 is not used); handoff negative_sentiment claimed after 4 min, still open
    a4  created, never written in: left out
    old created ten days before T0 (outside the window), handoff customer_request, never claimed
  pilot-human-led / human_led
    h1  5 msgs 0..330 s; rated 4; handoff human_led claimed after 1 min, closed 15 later
    h2  rated 2; handoff human_led claimed after 3 min, closed 5 later; a second one (negative_sentiment) waiting
    h3  reading 0.2 → proxy 3.4; handoff human_led waiting
    h4  reading -0.3 → proxy 2.4; handoff human_led claimed after 11 min, open
  pilot-hybrid / hybrid:  y1 reading 0.4 → proxy 3.8, 45 s;  y2 no reading at all, 15 s
  vip-hybrid / hybrid:    v1 rated 1, 60 s; handoff complexity claimed after 6 min, closed 20 later
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.persistence import Database
from evals.cohorts import DEFINITIONS, cohort_report

T0 = float(int(time.time()) - 3 * 3600)
WINDOW = (T0 - 3600, T0 + 86400)
CUSTOMER = {"id": "cust-1", "tier": "standard", "language": "en", "known": True}
Msg = tuple  # (role, seconds after the conversation's start, turn, sentiment)


def conversation(db: Database, cid: str, cohort: tuple[str, str] | None, start: float, messages: list[Msg],
                 *, rating: float | None = None, stored_proxy: float | None = None, channel: str = "chat") -> None:
    db.create_conversation(cid, CUSTOMER, channel, {"name": cohort[0], "mode": cohort[1]} if cohort else None)
    transcript = [{"role": role, "text": f"{role} {i}", "ts": start + at, "turn": turn, "sentiment": sentiment}
                  for i, (role, at, turn, sentiment) in enumerate(messages)]
    if transcript:
        db.sync_transcript(cid, transcript, "ai", None)
    with db.transaction() as conn:
        conn.execute("UPDATE conversations SET created_at = ? WHERE id = ?", (start, cid))
    if rating is not None:
        assert db.rate(cid, rating, "customer")
    if stored_proxy is not None:
        assert db.rate(cid, stored_proxy, "proxy")


def handoff(db: Database, cid: str, turn: int, reason: str, created: float, claim_after_min: float | None = None,
            work_min: float | None = None) -> None:
    claimed = created + claim_after_min * 60 if claim_after_min is not None else None
    closed = claimed + work_min * 60 if claimed is not None and work_min is not None else None
    status = "resolved" if closed else "claimed" if claimed else "waiting"
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO handoffs (conversation_id, turn, status, reason, priority, package, claimed_by, created_at,"
            " updated_at, claimed_at, closed_at) VALUES (?, ?, ?, ?, 'normal', '{}', ?, ?, ?, ?, ?)",
            (cid, turn, status, reason, "sam" if claimed else None, created, created, claimed, closed),
        )


def build(db: Database) -> None:
    default, human, hybrid, vip = ("default", "ai_first"), ("pilot-human-led", "human_led"), \
        ("pilot-hybrid", "hybrid"), ("vip-hybrid", "hybrid")
    conversation(db, "a1", default, T0, [("customer", 0, 1, None), ("bot", 30, 1, 0.5), ("customer", 60, 2, None),
                                         ("bot", 120, 2, 0.25), ("bot", 130, 2, 0.25)], rating=5)
    conversation(db, "a2", None, T0 + 10, [
        ("customer", 0, 1, None), ("bot", 60, 1, -0.5), ("customer", 120, 2, None), ("bot", 180, 2, -1.0),
        ("customer", 240, 3, None), ("bot", 300, 3, 0.0), ("customer", 360, 4, None), ("bot", 420, 4, 0.5)])
    handoff(db, "a2", 4, "customer_request", T0 + 400, claim_after_min=2, work_min=10)
    conversation(db, "a3", default, T0 + 20, [("customer", 0, 1, None), ("bot", 60, 1, 0.9)], stored_proxy=2.0)
    handoff(db, "a3", 1, "negative_sentiment", T0 + 80, claim_after_min=4)
    conversation(db, "a4", default, T0 + 30, [])
    conversation(db, "old", default, T0 - 10 * 86400, [("customer", 0, 1, None), ("bot", 5, 1, 0.0)])
    handoff(db, "old", 1, "customer_request", T0 - 10 * 86400 + 5)

    conversation(db, "h1", human, T0 + 40, [("customer", 0, 1, None), ("bot", 10, 1, 0.0), ("agent", 100, 1, None),
                                            ("customer", 200, 2, None), ("agent", 330, 2, None)], rating=4)
    handoff(db, "h1", 1, "human_led", T0 + 45, claim_after_min=1, work_min=15)
    conversation(db, "h2", human, T0 + 50, [("customer", 0, 1, None), ("bot", 20, 1, -0.2)], rating=2)
    handoff(db, "h2", 1, "human_led", T0 + 55, claim_after_min=3, work_min=5)
    handoff(db, "h2", 3, "negative_sentiment", T0 + 2000)
    conversation(db, "h3", human, T0 + 60, [("customer", 0, 1, None), ("bot", 5, 1, 0.2)])
    handoff(db, "h3", 1, "human_led", T0 + 65)
    conversation(db, "h4", human, T0 + 70, [("customer", 0, 1, None), ("bot", 5, 1, -0.3)])
    handoff(db, "h4", 1, "human_led", T0 + 75, claim_after_min=11)

    conversation(db, "y1", hybrid, T0 + 80, [("customer", 0, 1, None), ("bot", 45, 1, 0.4)], channel="voice")
    conversation(db, "y2", hybrid, T0 + 90, [("customer", 0, 1, None), ("bot", 15, 1, None)])
    conversation(db, "v1", vip, T0 + 100, [("customer", 0, 1, None), ("bot", 60, 1, -0.5)], rating=1)
    handoff(db, "v1", 1, "complexity", T0 + 160, claim_after_min=6, work_min=20)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    build(database)
    yield database
    database.close()


def third(k: int) -> float:
    return round(k / 3, 4)


def test_every_figure_matches_the_hand_calculation(db):
    report = cohort_report(db, *WINDOW, proxy_turns=3)
    assert report["window"] == {"since": WINDOW[0], "until": WINDOW[1]}
    assert report["definitions"] == DEFINITIONS and set(DEFINITIONS) >= {"containment", "csat", "csat_proxy",
                                                                           "handle_time", "escalation", "wait"}
    assert report["excluded"] == {"no_customer_message": 1}  # a4 ("old" is outside the window, not excluded)
    groups = {(g["cohort"], g["mode"]): g for g in report["cohorts"]}
    assert list(groups) == [("default", "ai_first"), ("pilot-human-led", "human_led"),
                            ("pilot-hybrid", "hybrid"), ("vip-hybrid", "hybrid")]

    a = groups[("default", "ai_first")]  # a1, a2 (no mode stored: counted here), a3
    assert a["conversations"] == 3 and a["customer_turns"] == 2 + 4 + 1 and a["channels"] == {"chat": 3}
    assert a["containment"] == third(1)  # only a1 never reached a person
    assert a["csat"] == {"mean": 5.0, "n": 1, "response_rate": third(1)}
    a2_proxy = round(3 + 2 * ((-1.0 + 0.0 + 0.5) / 3), 1)  # the last three readings; the first (-0.5) drops out
    assert a2_proxy == 2.7
    assert a["csat_proxy"] == {"mean": round((a2_proxy + 2.0) / 2, 2), "n": 2, "computed": 1}  # a1 rated: not here
    assert a["handle_time"] == {"conversation_minutes": round((130 / 60 + 420 / 60 + 60 / 60) / 3, 2),
                                "conversations": 3, "agent_minutes": 10.0, "handoffs": 1}
    assert a["escalation"] == {"rate": third(2), "by_reason": {"customer_request": third(1),
                                                               "negative_sentiment": third(1)}}
    assert a["wait"] == {"median_minutes": 3.0, "p90_minutes": round(2 + 0.9 * (4 - 2), 2), "claimed": 2,
                         "waiting": 0}

    h = groups[("pilot-human-led", "human_led")]
    assert h["conversations"] == 4 and h["customer_turns"] == 5
    assert h["containment"] == 0.0  # a measured zero: four conversations, all handed off
    assert h["csat"] == {"mean": 3.0, "n": 2, "response_rate": 0.5}
    assert h["csat_proxy"] == {"mean": round((3 + 2 * 0.2 + 3 + 2 * -0.3) / 2, 2), "n": 2, "computed": 2}
    assert h["handle_time"] == {"conversation_minutes": round((330 + 20 + 5 + 5) / 60 / 4, 2), "conversations": 4,
                                "agent_minutes": round((15 + 5) / 2, 2), "handoffs": 2}
    assert h["escalation"] == {"rate": 1.0, "by_reason": {"human_led": 1.0}}  # h2's second handoff is not its first
    # waits 1, 3, 11: p90 sits at 0.9 × 2 = 1.8 places up, 80% of the way from 3 to 11
    assert h["wait"] == {"median_minutes": 3.0, "p90_minutes": round(3 + 0.8 * (11 - 3), 2), "claimed": 3,
                         "waiting": 2}

    y = groups[("pilot-hybrid", "hybrid")]
    assert y["conversations"] == 2 and y["channels"] == {"chat": 1, "voice": 1}
    assert y["containment"] == 1.0
    assert y["csat"] == {"mean": None, "n": 0, "response_rate": 0.0}  # no rating: mean null, not 0
    assert y["csat_proxy"] == {"mean": 3.8, "n": 1, "computed": 1}  # y2 has no reading: no proxy, not a 3
    assert y["handle_time"] == {"conversation_minutes": round((45 + 15) / 60 / 2, 2), "conversations": 2,
                                "agent_minutes": None, "handoffs": 0}
    assert y["escalation"] == {"rate": 0.0, "by_reason": {}}
    assert y["wait"] == {"median_minutes": None, "p90_minutes": None, "claimed": 0, "waiting": 0}

    hybrid = report["modes"]["hybrid"]  # y1, y2 and v1 together, not an average of the two cohorts
    assert list(report["modes"]) == ["ai_first", "human_led", "hybrid"]
    assert report["modes"]["ai_first"] == {k: v for k, v in a.items() if k not in ("cohort", "mode")}
    assert hybrid["conversations"] == 3 and hybrid["containment"] == third(2)
    assert hybrid["csat"] == {"mean": 1.0, "n": 1, "response_rate": third(1)}
    assert hybrid["csat_proxy"] == {"mean": 3.8, "n": 1, "computed": 1}
    assert hybrid["handle_time"] == {"conversation_minutes": round((45 + 15 + 60) / 60 / 3, 2), "conversations": 3,
                                     "agent_minutes": 20.0, "handoffs": 1}
    assert hybrid["escalation"] == {"rate": third(1), "by_reason": {"complexity": third(1)}}
    assert hybrid["wait"] == {"median_minutes": 6.0, "p90_minutes": 6.0, "claimed": 1, "waiting": 0}


def test_the_window_and_proxy_turns(db):
    everything = cohort_report(db)
    default = everything["cohorts"][0]
    assert default["cohort"] == "default" and default["conversations"] == 4  # "old" is back in
    assert default["wait"]["waiting"] == 1 and default["escalation"]["by_reason"]["customer_request"] == 0.5
    before = cohort_report(db, 0.0, WINDOW[0])
    assert [(g["cohort"], g["conversations"]) for g in before["cohorts"]] == [("default", 1)]
    assert before["excluded"] == {"no_customer_message": 0} and list(before["modes"]) == ["ai_first"]
    assert cohort_report(db, T0 + 86400 * 2)["cohorts"] == []
    # Every reading of a2 (one per turn): 3 + 2 × (-1.0 / 4) = 2.5, averaged with a3's stored 2.0.
    wide = {g["cohort"]: g for g in cohort_report(db, *WINDOW, proxy_turns=10)["cohorts"]}
    assert wide["default"]["csat_proxy"] == {"mean": round((2.5 + 2.0) / 2, 2), "n": 2, "computed": 1}


# -- the command -------------------------------------------------------------------------------------------------------

def run_report(args: list[str], tmp_path: Path, db_url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BOT_DATA_DIR=str(tmp_path), BOT_DB_URL=db_url, OTEL_SDK_DISABLED="true", COLUMNS="200")
    env.pop("BOT_POLICY_DIR", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "report", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)


def test_bot_report_writes_the_json_and_prints_the_table(db, db_url, tmp_path):
    out = tmp_path / "report.json"
    done = run_report(["--json", str(out)], tmp_path, db_url)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps({**cohort_report(db), "mode": None}))
    for name in ("pilot-human-led", "vip-hybrid", "Definitions", "containment"):
        assert name in done.stdout
    only = run_report(["--mode", "human_led", "--since-days", "1", "--json", str(out)], tmp_path, db_url)
    assert only.returncode == 0, only.stderr
    written = json.loads(out.read_text())
    assert [g["cohort"] for g in written["cohorts"]] == ["pilot-human-led"] and list(written["modes"]) == ["human_led"]
    assert written["mode"] == "human_led" and T0 - 86400 - 60 < written["window"]["since"] < T0
    day = datetime.fromtimestamp(T0 - 5 * 86400, timezone.utc).date().isoformat()
    since = run_report(["--since", day, "--json", str(out)], tmp_path, db_url)
    assert since.returncode == 0, since.stderr
    assert json.loads(out.read_text())["modes"]["ai_first"]["conversations"] == 3  # "old" is ten days back


@pytest.mark.parametrize("args, fragment", [
    (["--since", "last tuesday"], "--since 'last tuesday'"),
    (["--since", "2026-13-01"], "expected an ISO date"),
    (["--since-days", "-1"], "--since-days '-1'"),
    (["--since-days", "a week"], "expected a number of days"),
    (["--since-days", "1", "--since", "2026-11-01"], "not both"),
    (["--mode", "robots_only"], "--mode 'robots_only'"),
    (["--json", "{tmp}/missing/dir/report.json"], "cannot write there"),
    (["--json", "{tmp}"], "is a directory"),
])
def test_bad_input_is_one_error_line_and_nothing_written(args, fragment, tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
    Database(url).close()
    before = sorted(tmp_path.rglob("*"))
    done = run_report([a.replace("{tmp}", str(tmp_path)) for a in args], tmp_path, url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], done.stderr
    assert done.stdout == "" and sorted(tmp_path.rglob("*")) == before


def test_no_database_yet_is_an_error_not_a_new_file(tmp_path):
    done = run_report([], tmp_path, f"sqlite:///{tmp_path / 'nothing.sqlite'}")
    assert done.returncode == 2 and "no database at" in done.stderr
    assert not (tmp_path / "nothing.sqlite").exists()
