"""`bot report`: the operating modes and cohorts compared on the team's own stored traffic.

The guide behind the modes says to pilot a mode on a share of customers and "monitor key metrics: containment rate,
CSAT, average handle time, and escalation accuracy". Each conversation keeps the mode and cohort it started in
(guardrails/modes.yaml), so grouping the stored conversations by (cohort, mode) compares like with like. Everything
is read from the tables the bot already writes (conversations, messages, handoffs); nothing is replayed or graded.

Two rules keep the figures honest. A figure without data is None (JSON null), never a 0 that reads as a result. And
a customer's own rating is never averaged with the sentiment proxy: `csat` is what customers said, `csat_proxy` is
mood read from their messages, reported side by side.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bot.csat import proxy
from bot.modes import DEFAULT_COHORT, MODES
from bot.persistence import Database

LEGACY_MODE = "ai_first"  # conversations stored before cohorts existed had no mode: the bot was AI-first then

DEFINITIONS = {
    "conversations": "conversations started in the window with at least one customer message (created_at decides"
                     " the window; ones the customer never wrote in are left out and counted in `excluded`)",
    "customer_turns": "number of customer messages in those conversations",
    "containment": "conversations with no handoff row at all / conversations",
    "csat": "mean of the customers' own 1-5 ratings (csat_source = customer); n = ratings;"
            " response_rate = n / conversations",
    "csat_proxy": "mean of the sentiment proxies, 3 + 2 x mean of the last proxy_turns sentiment readings (one per"
                  " turn), stored ones plus ones computed now for conversations with no stored CSAT (`computed`);"
                  " never mixed with customer ratings",
    "handle_time": "conversation_minutes = mean of (last message ts - first message ts) over conversations;"
                   " agent_minutes = mean of (closed_at - claimed_at) over handoffs that were claimed and closed",
    "escalation": "rate = conversations with at least one handoff / conversations; by_reason[r] = conversations whose"
                  " first handoff has reason r / conversations",
    "wait": "median and p90 (linear interpolation) of (claimed_at - created_at) in minutes over claimed handoffs;"
            " waiting = handoffs still waiting for an agent",
}


@dataclass
class _Conversation:
    """What the report needs of one stored conversation."""

    mode: str
    cohort: str
    channel: str
    customer_turns: int = 0
    minutes: float | None = None  # first message → last message
    rating: float | None = None  # the customer's own
    proxy: float | None = None  # stored or computed now
    computed: bool = False
    handoffs: list[tuple[Any, ...]] = field(default_factory=list)  # (turn, reason, status, created, claimed, closed)


def cohort_report(db: Database, since: float = 0.0, until: float | None = None, proxy_turns: int = 3) -> dict:
    """The report over conversations created in [since, until) (epoch seconds; until None = open-ended).

    Returns {window, proxy_turns, excluded, definitions, cohorts: [group, ...], modes: {mode: group}}: one group per
    (cohort, mode) and one per mode over all its cohorts. `proxy_turns` is guardrails/modes.yaml `csat.proxy_turns`.
    """
    conversations = load_conversations(db, since, until, proxy_turns)
    grouped = group_conversations(conversations)
    return {
        "window": {"since": since, "until": until},
        "proxy_turns": proxy_turns,
        "excluded": {"no_customer_message": len(grouped.excluded)},
        "definitions": DEFINITIONS,
        "cohorts": [{"cohort": cohort, "mode": mode, **_metrics([conversations[cid] for cid in ids])}
                    for (cohort, mode), ids in grouped.cohorts.items()],
        "modes": {mode: _metrics([conversations[cid] for cid in ids]) for mode, ids in grouped.modes.items()},
    }


@dataclass
class Grouped:
    """Conversation ids per (cohort, mode) and per mode, in report order (the modes as MODES lists them, the default
    cohort first within a mode); `excluded`: ones the customer never wrote in. Shared with `bot roi`."""

    excluded: list[str]
    cohorts: dict[tuple[str, str], list[str]]
    modes: dict[str, list[str]]


def group_conversations(conversations: dict[str, _Conversation]) -> Grouped:
    empty = [cid for cid, c in conversations.items() if not c.customer_turns]
    by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_mode: dict[str, list[str]] = defaultdict(list)
    for cid, c in conversations.items():
        if c.customer_turns:
            by_group[(c.cohort, c.mode)].append(cid)
            by_mode[c.mode].append(cid)
    order = {m: i for i, m in enumerate(MODES)}
    groups = sorted(by_group, key=lambda k: (order.get(k[1], len(order)), k[1], k[0] != DEFAULT_COHORT, k[0]))
    return Grouped(excluded=empty, cohorts={k: by_group[k] for k in groups},
                   modes={m: by_mode[m] for m in sorted(by_mode, key=lambda m: (order.get(m, 99), m))})


def load_conversations(db: Database, since: float, until: float | None,
                       proxy_turns: int = 3) -> dict[str, _Conversation]:
    """Four reads in one snapshot: the conversations, their message spans, their sentiment trails (only where no
    CSAT is stored: that is where a proxy is computed) and their handoffs. Shared with `bot roi` (evals/roi.py)."""
    window = "c.created_at >= ?" + (" AND c.created_at < ?" if until is not None else "")
    args = (since,) if until is None else (since, until)
    with db.reading() as conn:
        rows = conn.execute(
            f"SELECT c.id, c.operating_mode, c.cohort, c.channel, c.csat, c.csat_source FROM conversations c"
            f" WHERE {window}", args).fetchall()
        spans = conn.execute(
            "SELECT m.conversation_id, MIN(m.ts), MAX(m.ts), SUM(CASE WHEN m.role = 'customer' THEN 1 ELSE 0 END)"
            f" FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE {window}"
            " GROUP BY m.conversation_id", args).fetchall()
        trails = conn.execute(
            "SELECT m.conversation_id, m.turn, m.seq, m.sentiment FROM messages m"
            f" JOIN conversations c ON c.id = m.conversation_id WHERE {window} AND c.csat IS NULL"
            " AND m.sentiment IS NOT NULL ORDER BY m.conversation_id, m.seq", args).fetchall()
        handoffs = conn.execute(
            "SELECT h.conversation_id, h.turn, h.reason, h.status, h.created_at, h.claimed_at, h.closed_at"
            f" FROM handoffs h JOIN conversations c ON c.id = h.conversation_id WHERE {window}"
            " ORDER BY h.conversation_id, h.turn, h.created_at", args).fetchall()
    found = {
        cid: _Conversation(mode=mode or LEGACY_MODE, cohort=cohort or DEFAULT_COHORT, channel=channel,
                           rating=csat if source == "customer" else None,
                           proxy=csat if source == "proxy" else None)
        for cid, mode, cohort, channel, csat, source in rows
    }
    for cid, first, last, customer in spans:
        found[cid].minutes = (last - first) / 60
        found[cid].customer_turns = int(customer or 0)
    # Bot rows carry the sentiment of the customer message they answered; several rows of one turn are one reading.
    readings: dict[str, dict[Any, float]] = defaultdict(dict)
    for cid, turn, seq, sentiment in trails:
        readings[cid].setdefault(("turn", turn) if turn is not None else ("seq", seq), sentiment)
    for cid, trail in readings.items():
        c = found[cid]
        c.proxy = proxy(list(trail.values()), proxy_turns)
        c.computed = c.proxy is not None
    for cid, *handoff in handoffs:
        found[cid].handoffs.append(tuple(handoff))
    return found


def _metrics(group: list[_Conversation]) -> dict[str, Any]:
    n = len(group)
    ratings = [c.rating for c in group if c.rating is not None]
    proxies = [c.proxy for c in group if c.rating is None and c.proxy is not None]
    spans = [c.minutes for c in group if c.minutes is not None]
    handoffs = [h for c in group for h in c.handoffs]
    worked = [(closed - claimed) / 60 for _, _, _, _, claimed, closed in handoffs
              if claimed is not None and closed is not None]
    waits = [(claimed - created) / 60 for _, _, _, created, claimed, _ in handoffs if claimed is not None]
    first_reasons = Counter(c.handoffs[0][1] for c in group if c.handoffs)
    return {
        "conversations": n,
        "customer_turns": sum(c.customer_turns for c in group),
        "channels": dict(sorted(Counter(c.channel for c in group).items())),
        "containment": _share(sum(1 for c in group if not c.handoffs), n),
        "csat": {"mean": _mean(ratings), "n": len(ratings), "response_rate": _share(len(ratings), n)},
        "csat_proxy": {"mean": _mean(proxies), "n": len(proxies),
                       "computed": sum(1 for c in group if c.rating is None and c.computed)},
        "handle_time": {"conversation_minutes": _mean(spans), "conversations": len(spans),
                        "agent_minutes": _mean(worked), "handoffs": len(worked)},
        "escalation": {"rate": _share(sum(first_reasons.values()), n),
                       "by_reason": {r: _share(k, n) for r, k in first_reasons.most_common()}},
        "wait": {"median_minutes": _quantile(waits, 0.5), "p90_minutes": _quantile(waits, 0.9),
                 "claimed": len(waits), "waiting": sum(1 for h in handoffs if h[2] == "waiting")},
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default), so a hand calculation can check it."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 2)


def table(report: dict[str, Any]) -> Any:
    """The report as one rich table: a row per cohort, then a total row per mode; "-" where there is no data."""
    from rich.table import Table

    grid = Table("mode", "cohort", "conv.", "contained", "CSAT (n)", "CSAT proxy (n)", "AHT min", "agent min",
                 "escalated", "top reasons", "wait min med/p90 (waiting)", title="Cohorts", title_justify="left")
    rows = [(g["mode"], g["cohort"], g) for g in report["cohorts"]]
    totals = [(mode, "all", g) for mode, g in report["modes"].items()]
    for i, (mode, cohort, g) in enumerate(rows + totals):
        reasons = ", ".join(f"{r} {_pct(s)}" for r, s in list(g["escalation"]["by_reason"].items())[:2])
        wait = g["wait"]
        grid.add_row(
            mode, cohort, str(g["conversations"]), _pct(g["containment"]),
            f"{_num(g['csat']['mean'])} ({g['csat']['n']})",
            f"{_num(g['csat_proxy']['mean'])} ({g['csat_proxy']['n']})",
            _num(g["handle_time"]["conversation_minutes"]), _num(g["handle_time"]["agent_minutes"]),
            _pct(g["escalation"]["rate"]), reasons or "-",
            f"{_num(wait['median_minutes'])}/{_num(wait['p90_minutes'])} ({wait['waiting']})",
            style="bold" if i >= len(rows) else None, end_section=i == len(rows) - 1,
        )
    return grid


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
