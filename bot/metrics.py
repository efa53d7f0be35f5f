"""Prometheus metrics: business figures read from the database, plus this server's HTTP request counters.

Why from the database: `bot serve --workers N` answers a scrape from whichever worker takes the connection, and
conversations are served by all of them. Figures counted in one process would jump between scrapes; figures read
from the stored conversations are the same from every worker. Each is one aggregate query (GROUP BY, COUNT, or
the latency column of recent turns only — never transcripts), cached for `cache_seconds` so a scrape storm costs
one set of queries per worker. Portable SQL only (the Database may be PostgreSQL).

Message-level figures (latency, blocks, containment) cover conversations active in a recent window: the
`conversations.updated_at` index finds them, so their cost follows recent traffic, not the size of the history.

The HTTP counters are per process; with several workers `bot serve` points prometheus_client's multiprocess mode
at a shared directory (PROMETHEUS_MULTIPROC_DIR) so a scrape sums every worker's.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.taxonomy import HANDOFF_REASONS

QUANTILES = (0.5, 0.9, 0.95, 0.99)
QUEUE_STATUSES = ("waiting", "claimed", "resolved", "returned")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

LOCAL = CollectorRegistry(auto_describe=True)  # this process's own counters
HTTP_REQUESTS = Counter("csbot_http_requests", "HTTP requests answered, by method, route template and status "
                        "(all workers)", ["method", "route", "status"], registry=LOCAL)
HTTP_SECONDS = Histogram("csbot_http_request_duration_seconds", "Time to answer an HTTP request, by route template "
                         "(all workers; streams last until their reply is done)", ["route"], registry=LOCAL,
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


def route_of(scope: Scope) -> str:
    """The route template (`/api/conversations/{conversation_id}`): no ids, bounded label values."""
    path = getattr(scope.get("route"), "path", None)
    return path or ("/static/…" if scope.get("path", "").startswith("/static/") else "(unmatched)")


class RequestMetrics:
    """ASGI middleware counting each HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = route_of(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            HTTP_REQUESTS.labels(method, route, str(status[0])).inc()
            HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)


class StoreCollector(Collector):
    """The database-wide figures (see the module docstring), recomputed at most every `cache_s` seconds."""

    def __init__(self, db: Any, window_s: float = 3600, cache_s: float = 10, clock: Any = time.time) -> None:
        self.db, self.window_s, self.cache_s, self.clock = db, window_s, cache_s, clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # one worker thread queries; concurrent scrapes wait for its answer
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_s:
                self._cached = (now, self._families())
            return list(self._cached[1])

    def _families(self) -> list[Metric]:
        up = GaugeMetricFamily("csbot_database_up", "1 when the figures below could be read from the database")
        try:
            families = self._read()
        except Exception:  # noqa: BLE001 - the database is down or closed: say so, serve the process's own figures
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _read(self) -> list[Metric]:
        since = self.clock() - self.window_s
        with self.db.reading() as conn:
            conversations = conn.execute(
                "SELECT status, channel, COUNT(*) FROM conversations GROUP BY status, channel", ()).fetchall()
            reasons = conn.execute("SELECT reason, COUNT(*) FROM handoffs GROUP BY reason", ()).fetchall()
            queue = conn.execute("SELECT status, COUNT(*), MIN(created_at) FROM handoffs GROUP BY status",
                                 ()).fetchall()
            engaged, handed = conn.execute(
                "SELECT COUNT(*), SUM(CASE WHEN c.handoff_turn IS NOT NULL OR c.handoff_reason IS NOT NULL"
                " OR c.status = 'human' THEN 1 ELSE 0 END) FROM conversations c WHERE c.updated_at >= ? AND EXISTS"
                " (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'customer')",
                (since,)).fetchone()
            turns = conn.execute(
                "SELECT m.latency_ms, m.blocked FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " WHERE c.updated_at >= ? AND m.ts >= ? AND m.role = 'bot' AND m.latency_ms IS NOT NULL",
                (since, since)).fetchall()
        return [*self._totals(conversations, reasons, queue), *self._recent(int(engaged or 0), int(handed or 0), turns)]

    def _totals(self, conversations: list[Any], reasons: list[Any], queue: list[Any]) -> list[Metric]:
        stored = GaugeMetricFamily("csbot_conversations", "Stored conversations by status (ai, human, closed) and "
                                   "channel", labels=["status", "channel"])
        for status, channel, n in conversations:
            stored.add_metric([str(status), str(channel)], int(n))
        escalations = CounterMetricFamily("csbot_escalations", "Handoffs to a person since the database began, by "
                                          "reason", labels=["reason"])
        counts = {reason: 0 for reason in HANDOFF_REASONS} | {str(r): int(n) for r, n in reasons}
        for reason, n in sorted(counts.items()):
            escalations.add_metric([reason], n)
        depth = GaugeMetricFamily("csbot_handoff_queue", "Handoffs by queue status", labels=["status"])
        by_status = {s: (0, None) for s in QUEUE_STATUSES} | {str(s): (int(n), oldest) for s, n, oldest in queue}
        for status, (n, _) in sorted(by_status.items()):
            depth.add_metric([status], n)
        oldest = by_status["waiting"][1]
        waiting = GaugeMetricFamily("csbot_handoff_oldest_waiting_seconds", "How long the oldest waiting handoff has "
                                    "waited (0: none waiting)")
        waiting.add_metric([], max(0.0, self.clock() - float(oldest)) if oldest is not None else 0.0)
        return [stored, escalations, depth, waiting]

    def _recent(self, engaged: int, handed: int, turns: list[Any]) -> list[Metric]:
        window = f"in the last {self.window_s / 60:g} minutes"
        families: list[Metric] = []

        def gauge(name: str, text: str, value: float) -> None:
            family = GaugeMetricFamily(name, text)
            family.add_metric([], value)
            families.append(family)

        gauge("csbot_recent_window_seconds", "Length of the window the csbot_recent_* figures cover", self.window_s)
        gauge("csbot_recent_conversations", f"Conversations with a customer message, active {window}", engaged)
        if engaged:  # no sample rather than a made-up ratio when nobody wrote
            gauge("csbot_recent_containment_ratio", f"Share of those conversations never handed to a person, {window}",
                  (engaged - handed) / engaged)
        gauge("csbot_recent_bot_turns", f"Customer messages answered {window}", len(turns))
        gauge("csbot_recent_rail_blocks", f"Customer messages refused by the input rails {window}",
              sum(1 for _, blocked in turns if blocked))
        latency = GaugeMetricFamily("csbot_recent_turn_latency_seconds", "Bot-turn latency (customer message in → "
                                    f"reply done) quantiles {window}", labels=["quantile"])
        values = sorted(float(ms) / 1000 for ms, _ in turns)
        for q in QUANTILES if values else ():
            latency.add_metric([f"{q:g}"], values[max(0, math.ceil(q * len(values)) - 1)])  # nearest rank
        return [*families, latency]


def exposition(store: Collector, *more: Collector) -> bytes:
    """The text format (0.0.4) of the database figures, `more` collectors (the drift monitor's) and the HTTP
    counters (every worker's, in multiprocess mode)."""
    from prometheus_client import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    for collector in (store, *more):
        registry.register(collector)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Local())
    return generate_latest(registry)


class _Local(Collector):
    def collect(self) -> Iterable[Metric]:
        return LOCAL.collect()
