"""`bot monitor`: the bot's key figures for a recent window against a baseline period, and alerts on drift.

The guide: "AI models drift over time — customer language changes, new products launch ... Set up automated alerts
for key metrics like containment rate and CSAT". Everything here is read from the tables the bot already writes
(conversations, messages, handoffs, flags): nothing is replayed, nothing extra is logged at run time. The policy is
guardrails/monitor.yaml (bot/monitor_policy.py); the statistics are evals/drift_stats.py, the out-of-scope topics
evals/topics.py. The result is one JSON-able dict, shared by the command (evals/drift_command.py) and /metrics
(evals/drift_metrics.py).

Counting rules (as `bot report`, evals/cohorts.py): a conversation counts in the window it started in, if the
customer wrote in it; a handoff is a row in `handoffs`, its reason the first one's; a bot row carries the intent,
confidence and sentiment of the customer message it answered, and several bot rows of one turn are one reading.
Customers' own ratings and the sentiment proxy are never mixed. Portable SQL only (SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.csat import proxy
from bot.monitor_policy import MonitorPolicy
from bot.persistence import Database
from bot.taxonomy import HANDOFF_REASONS
from evals.drift_stats import Check, Sample, check, settle, show
from evals.topics import Topic, find_topics

log = logging.getLogger(__name__)
LEGACY_MODE = "ai_first"  # conversations stored before operating modes existed (as evals/cohorts.py counts them)


@dataclass(frozen=True)
class Window:
    name: str
    since: float
    until: float

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


def windows(policy: MonitorPolicy, now: float, current_hours: float | None = None,
            baseline_days: float | None = None) -> tuple[Window, Window]:
    """The current window (the last `current_hours`, ending `settle_minutes` ago) and the baseline: the
    `baseline_days` before it, or the pinned period of the policy (an explicit `baseline_days` wins)."""
    w = policy.window
    until = now - w.settle_minutes * 60
    since = until - (current_hours or w.current_hours) * 3600
    pinned = w.pinned_baseline
    if pinned is not None and baseline_days is None:
        baseline = Window("baseline", pinned.since.timestamp(), pinned.until.timestamp())
    else:
        baseline = Window("baseline", since - (baseline_days or w.baseline_days) * 86400, since)
    return Window("current", since, until), baseline


@dataclass
class Figures:
    """One window's counts: the numerators and denominators of every metric."""

    conversations: int = 0
    excluded: int = 0  # conversations the customer never wrote in
    contained: int = 0
    first_reasons: Counter[str] = field(default_factory=Counter)
    customer_turns: int = 0
    blocked_turns: int = 0
    intent_turns: int = 0
    out_of_scope_turns: int = 0
    confidence_turns: int = 0
    unsure_turns: int = 0
    sentiment_turns: int = 0
    negative_turns: int = 0
    ratings: list[float] = field(default_factory=list)
    proxies: list[float] = field(default_factory=list)
    flags: Counter[str] = field(default_factory=Counter)


def _scope(window: Window, modes: list[str], column: str = "c.created_at") -> tuple[str, tuple[Any, ...]]:
    where = f"{column} >= ? AND {column} < ?"
    if modes:
        where += f" AND COALESCE(c.operating_mode, '{LEGACY_MODE}') IN ({', '.join('?' * len(modes))})"
    return where, (window.since, window.until, *modes)


def measure(db: Database, window: Window, policy: MonitorPolicy, proxy_turns: int = 3) -> Figures:
    """Four reads in one snapshot, aggregated here (per-turn de-duplication is clearer in Python than in SQL that
    must run on both databases). Cost: the rows of the window's conversations, never their texts."""
    where, args = _scope(window, policy.modes)
    flag_where, flag_args = _scope(window, policy.modes, "f.created_at")
    with db.reading() as conn:
        rows = conn.execute(f"SELECT c.id, c.csat, c.csat_source FROM conversations c WHERE {where}", args).fetchall()
        turns = conn.execute(
            "SELECT m.conversation_id, m.role, m.turn, m.seq, m.intent, m.sentiment, m.confidence, m.blocked"
            f" FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE {where}"
            " AND m.role IN ('customer', 'bot') ORDER BY m.conversation_id, m.seq", args).fetchall()
        handoffs = conn.execute(
            f"SELECT h.conversation_id, h.reason FROM handoffs h JOIN conversations c ON c.id = h.conversation_id"
            f" WHERE {where} ORDER BY h.conversation_id, h.turn, h.created_at", args).fetchall()
        flags = conn.execute(
            f"SELECT f.kind, COUNT(*) FROM flags f JOIN conversations c ON c.id = f.conversation_id WHERE {flag_where}"
            " GROUP BY f.kind", flag_args).fetchall()
    customer: Counter[str] = Counter()
    readings: dict[tuple[str, Any], tuple[Any, Any, Any]] = {}  # (conversation, turn) → its first bot row's reading
    blocked: set[tuple[str, Any]] = set()
    for cid, role, turn, seq, intent, sentiment, confidence, was_blocked in turns:
        if role == "customer":
            customer[cid] += 1
            continue
        key = (cid, turn if turn is not None else f"seq {seq}")
        readings.setdefault(key, (intent, sentiment, confidence))
        if was_blocked:
            blocked.add(key)
    figures = Figures(flags=Counter({str(kind): int(n) for kind, n in flags}))
    stored = {cid: (csat, source) for cid, csat, source in rows if customer[cid]}
    figures.conversations, figures.excluded = len(stored), len(rows) - len(stored)
    figures.customer_turns = sum(customer[cid] for cid in stored)
    figures.blocked_turns = sum(1 for cid, _ in blocked if cid in stored)
    trails: dict[str, list[float]] = {}
    for (cid, _), (intent, sentiment, confidence) in readings.items():
        if cid not in stored:
            continue
        figures.intent_turns += intent is not None
        figures.out_of_scope_turns += intent == "out_of_scope"
        figures.confidence_turns += confidence is not None
        figures.unsure_turns += confidence is not None and confidence < policy.low_confidence_below
        figures.sentiment_turns += sentiment is not None
        figures.negative_turns += sentiment is not None and sentiment <= policy.negative_sentiment_at_or_below
        if sentiment is not None:
            trails.setdefault(cid, []).append(float(sentiment))
    for cid, (csat, source) in stored.items():
        if source == "customer":
            figures.ratings.append(float(csat))
        elif source == "proxy" and csat is not None:
            figures.proxies.append(float(csat))
        elif csat is None and (computed := proxy(trails.get(cid, []), proxy_turns)) is not None:
            figures.proxies.append(computed)
    first: dict[str, str] = {}
    for cid, reason in handoffs:
        if cid in stored:
            first.setdefault(cid, str(reason))
    figures.first_reasons = Counter(first.values())
    figures.contained = figures.conversations - len(first)
    return figures


def out_of_scope_messages(db: Database, window: Window, modes: list[str]) -> list[tuple[str, str]]:
    """(conversation id, stored text) of the customer messages the bot read as out_of_scope, in the window."""
    where, args = _scope(window, modes)
    with db.reading() as conn:
        rows = conn.execute(
            f"SELECT m.conversation_id, m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            f" WHERE {where} AND m.role = 'customer' AND EXISTS (SELECT 1 FROM messages b WHERE"
            " b.conversation_id = m.conversation_id AND b.turn = m.turn AND b.role = 'bot'"
            " AND b.intent = 'out_of_scope') ORDER BY m.conversation_id, m.seq", args).fetchall()
    return [(str(cid), str(text or "")) for cid, text in rows]


# (metric, unit, what the denominator counts, band name, figures → sample)
SPECS: list[tuple[str, str, str, str, Callable[[Figures], Sample]]] = [
    ("containment", "share", "conversations", "containment", lambda f: Sample(f.conversations, f.contained)),
    ("escalation_rate", "share", "conversations", "escalation_rate",
     lambda f: Sample(f.conversations, f.conversations - f.contained)),
    ("rail_block_rate", "share", "customer turns", "rail_block_rate",
     lambda f: Sample(f.customer_turns, f.blocked_turns)),
    ("low_confidence_rate", "share", "bot turns", "low_confidence_rate",
     lambda f: Sample(f.confidence_turns, f.unsure_turns)),
    ("out_of_scope_rate", "share", "bot turns", "out_of_scope_rate",
     lambda f: Sample(f.intent_turns, f.out_of_scope_turns)),
    ("negative_sentiment_rate", "share", "customer turns", "negative_sentiment_rate",
     lambda f: Sample(f.sentiment_turns, f.negative_turns)),
    ("csat", "rating", "ratings", "csat", lambda f: Sample(len(f.ratings), values=f.ratings)),
    ("csat_proxy", "rating", "proxies", "csat_proxy", lambda f: Sample(len(f.proxies), values=f.proxies)),
    ("flag_rate", "per_conversation", "conversations", "flag_rate",
     lambda f: Sample(f.conversations, sum(f.flags.values()))),
]


def checks(current: Figures, baseline: Figures, policy: MonitorPolicy) -> list[Check]:
    """One check per enabled metric; escalation by reason for every reason seen in either window (bounded by
    HANDOFF_REASONS), right after the overall escalation rate."""
    order = {r: i for i, r in enumerate(HANDOFF_REASONS)}
    reasons = sorted(set(current.first_reasons) | set(baseline.first_reasons), key=lambda r: (order.get(r, 99), r))
    by_reason = [(f"escalation_rate.{reason}", "share", "conversations", "escalation_by_reason",
                  lambda f, r=reason: Sample(f.conversations, f.first_reasons.get(r, 0))) for reason in reasons]
    specs = SPECS[:2] + by_reason + SPECS[2:]
    results = [check(metric, unit, policy.band(band), sample(current), sample(baseline), noun)  # type: ignore[arg-type]
               for metric, unit, noun, band, sample in specs if policy.band(band).enabled]
    for c in results:
        if c.metric == "flag_rate":  # which kind of flag moved (bot/feedback.py KINDS)
            c.extra["by_kind"] = {"current": dict(current.flags), "baseline": dict(baseline.flags)}
    return results


def run(db: Database, policy: MonitorPolicy, *, now: float | None = None, current_hours: float | None = None,
        baseline_days: float | None = None, proxy_turns: int = 3) -> dict[str, Any]:
    """The whole monitor: windows, figures, checks, topics, alerts (the JSON of `bot monitor --json`)."""
    now = time.time() if now is None else now
    current_window, baseline_window = windows(policy, now, current_hours, baseline_days)
    current = measure(db, current_window, policy, proxy_turns)
    baseline = measure(db, baseline_window, policy, proxy_turns)
    results = checks(current, baseline, policy)
    topics: list[Topic] = []
    if policy.topics.enabled:
        topics = find_topics(out_of_scope_messages(db, current_window, policy.modes),
                             out_of_scope_messages(db, baseline_window, policy.modes),
                             current.conversations, baseline.conversations, policy.topics)
    need = policy.min_conversations
    short = [f"{n:,} conversations in the {name} window, {least:,} needed"
             for name, n, least in (("current", current.conversations, need.current),
                                    ("baseline", baseline.conversations, need.baseline)) if n < least]
    alpha = None
    if short:
        for c in results:
            c.status = "not_enough_data"
            if not c.message:
                c.message = (f"{c.metric} at {show(c.current, c.unit)} (baseline {show(c.baseline, c.unit)}):"
                             " not judged, too little traffic")
    else:
        tested = [t for t in topics if t.p_value is not None] if policy.topics.alert else []
        alpha = settle(results, policy.false_alarm_rate, extra_tests=len(tested))
        for t in tested:
            t.alert = t.new and t.p_value is not None and t.p_value < alpha
    alerts = [c.as_json() for c in results if c.status == "alert"]
    alerts += [_topic_alert(t, current.conversations, baseline.conversations) for t in topics if t.alert]
    judged = sum(1 for c in results if c.judged)
    watched = sum(1 for c in results if c.status == "watch")
    if short:
        status, message = "not_enough_data", f"not enough data to judge ({'; '.join(short)}): no alert possible"
    elif alerts:
        status, message = "alert", f"{len(alerts)} alert(s): {', '.join(a['metric'] for a in alerts)}"
    else:
        status, message = "ok", f"no alert: {judged} of {len(results)} metrics judged" + (
            f"; {watched} beyond their band but within noise (watch)" if watched else ", all within their bands")
    return {
        "generated_at": now,
        "status": status,
        "judged": not short,
        "message": message,
        "modes": policy.modes or "all",
        "windows": {
            "current": {**current_window.as_json(), "conversations": current.conversations,
                        "excluded": current.excluded},
            "baseline": {**baseline_window.as_json(), "conversations": baseline.conversations,
                         "excluded": baseline.excluded},
        },
        "false_alarm_rate": policy.false_alarm_rate,
        "alpha_per_test": alpha,
        "metrics": [c.as_json() for c in results],
        "alerts": alerts,
        "topics": [t.as_json() for t in topics],
    }


def _topic_alert(topic: Topic, conversations: int, baseline_conversations: int) -> dict[str, Any]:
    return {
        "metric": "new_topic", "status": "alert", "unit": "share", "direction": "rise", "terms": topic.terms,
        "current": topic.share, "baseline": topic.baseline_share, "limit": None, "p_value": topic.p_value,
        "counts": {"current": {"events": topic.conversations, "of": conversations},
                   "baseline": {"events": topic.baseline_conversations, "of": baseline_conversations}},
        "message": f"new out-of-scope topic \"{topic.label}\": {topic.conversations} conversations"
                   f" ({show(topic.share, 'share')} of the window) vs {topic.baseline_conversations} in the baseline"
                   f" ({show(topic.baseline_share, 'share')}); p={topic.p_value:.2g}",
    }


def log_report(report: dict[str, Any], logger: logging.Logger = log) -> None:
    """Every alert as one WARNING with the figures as structured fields (JSON logs: BOT_LOG_FORMAT=json); too little
    traffic as a WARNING too, so that a monitor that cannot judge is never mistaken for one that found nothing."""
    if not report["judged"]:
        logger.warning("monitor: %s", report["message"], extra={"fields": {
            "monitor_status": "not_enough_data",
            "current_conversations": report["windows"]["current"]["conversations"],
            "baseline_conversations": report["windows"]["baseline"]["conversations"]}})
    for alert in report["alerts"]:
        logger.warning("monitor alert: %s", alert["message"], extra={"fields": {
            "monitor_status": "alert", "metric": alert["metric"], "current": alert["current"],
            "baseline": alert["baseline"], "limit": alert.get("limit"), "p_value": alert["p_value"],
            "counts": alert["counts"], **({"terms": alert["terms"]} if "terms" in alert else {})}})
