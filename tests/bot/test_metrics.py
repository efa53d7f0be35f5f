"""bot/metrics.py on SQLite and on PostgreSQL: the database-wide figures from rows written through `Database`, the
recent window, nearest-rank latency quantiles, the cache, and the request counter's bounded labels."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.metrics import HTTP_REQUESTS, RequestMetrics, StoreCollector
from bot.persistence import Database


def figures(collector: StoreCollector) -> dict[tuple[str, tuple], float]:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def conversation(db: Database, cid: str, latencies_ms: list[float], *, channel: str = "chat", status: str = "ai",
                 reason: str | None = None, blocked_last: bool = False, ts: float | None = None) -> None:
    """A stored conversation with one customer message and one bot reply per latency (as the engine writes them)."""
    db.create_conversation(cid, {"id": None, "tier": "standard"}, channel)
    transcript: list[dict] = []
    now = ts or time.time()
    for turn, latency in enumerate(latencies_ms, start=1):
        transcript += [{"role": "customer", "text": "hi", "ts": now, "turn": turn},
                       {"role": "bot", "text": "hello", "ts": now, "turn": turn, "intent": "greeting"}]
        last = turn == len(latencies_ms)
        db.sync_transcript(cid, transcript, status if last else "ai", reason if last else None, latency_ms=latency,
                           blocked=blocked_last and last, handoff_turn=turn if last and reason else None)


def handoff(db: Database, cid: str, turn: int, reason: str, status: str = "waiting", age_s: float = 0.0) -> None:
    now = time.time()
    with db.transaction() as conn:
        conn.execute("INSERT INTO handoffs (conversation_id, turn, status, reason, priority, package, created_at,"
                     " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (cid, turn, status, reason, "normal", "{}", now - age_s, now - age_s))


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.close()


def test_figures_from_the_database(db):
    conversation(db, "c-a", [100, 200, 300])
    conversation(db, "c-b", [400, 500], blocked_last=True)
    conversation(db, "c-c", [600, 700], status="human", reason="high_stakes")
    conversation(db, "c-d", [800, 900, 1000], channel="voice", status="closed", reason="customer_request")
    db.create_conversation("c-e", {"id": None}, "web")  # opened, never written in
    handoff(db, "c-c", 2, "high_stakes", age_s=120)
    handoff(db, "c-d", 3, "customer_request", status="resolved")
    handoff(db, "c-d", 1, "customer_request", status="returned")  # handed back, then handed off again: two

    m = figures(StoreCollector(db, window_s=3600, cache_s=0))
    assert m[("csbot_database_up", ())] == 1
    assert m[("csbot_conversations", (("channel", "chat"), ("status", "ai")))] == 2
    assert m[("csbot_conversations", (("channel", "chat"), ("status", "human")))] == 1
    assert m[("csbot_conversations", (("channel", "voice"), ("status", "closed")))] == 1
    assert m[("csbot_conversations", (("channel", "web"), ("status", "ai")))] == 1
    assert m[("csbot_escalations_total", (("reason", "customer_request"),))] == 2
    assert m[("csbot_escalations_total", (("reason", "high_stakes"),))] == 1
    assert m[("csbot_escalations_total", (("reason", "guardrail"),))] == 0
    assert m[("csbot_handoff_queue", (("status", "waiting"),))] == 1
    assert m[("csbot_handoff_queue", (("status", "resolved"),))] == 1
    assert 119 <= m[("csbot_handoff_oldest_waiting_seconds", ())] < 180
    assert m[("csbot_recent_conversations", ())] == 4
    assert m[("csbot_recent_containment_ratio", ())] == 0.5
    assert m[("csbot_recent_bot_turns", ())] == 10
    assert m[("csbot_recent_rail_blocks", ())] == 1
    quantiles = {q: m[("csbot_recent_turn_latency_seconds", (("quantile", q),))] for q in ("0.5", "0.9", "0.95")}
    assert quantiles == {"0.5": 0.5, "0.9": 0.9, "0.95": 1.0}  # nearest rank over 100…1000 ms
    assert m[("csbot_recent_window_seconds", ())] == 3600


def test_the_recent_window_leaves_older_conversations_out(db):
    conversation(db, "c-old", [100], reason="customer_request", status="human")
    later = StoreCollector(db, window_s=600, cache_s=0, clock=lambda: time.time() + 3600)  # an hour from now
    m = figures(later)
    assert m[("csbot_conversations", (("channel", "chat"), ("status", "human")))] == 1  # totals: all time
    assert m[("csbot_recent_conversations", ())] == 0 and m[("csbot_recent_bot_turns", ())] == 0
    assert ("csbot_recent_containment_ratio", ()) not in m  # no sample rather than a made-up ratio
    assert not any(name == "csbot_recent_turn_latency_seconds" for name, _ in m)


def test_figures_are_cached_and_a_closed_database_reports_down(db):
    collector = StoreCollector(db, cache_s=60)
    assert ("csbot_conversations", (("channel", "chat"), ("status", "ai"))) not in figures(collector)
    conversation(db, "c-a", [100])
    assert ("csbot_conversations", (("channel", "chat"), ("status", "ai"))) not in figures(collector)
    collector.cache_s = 0
    assert figures(collector)[("csbot_conversations", (("channel", "chat"), ("status", "ai")))] == 1
    db.close()
    assert figures(collector) == {("csbot_database_up", ()): 0}


def test_the_request_counter_uses_route_templates_and_bounded_methods():
    async def item(request):
        return PlainTextResponse("ok")

    app = RequestMetrics(Starlette(routes=[Route("/items/{item_id}", item, methods=["GET", "PURGE"])]))

    def count(method: str, route: str, status: str) -> float:
        return HTTP_REQUESTS.labels(method, route, status)._value.get()

    before = [count("GET", "/items/{item_id}", "200"), count("other", "/items/{item_id}", "200"),
              count("GET", "(unmatched)", "404")]
    with TestClient(app) as client:
        for i in range(3):
            client.get(f"/items/customer-{i}@example.com")
        client.request("PURGE", "/items/1")
        client.get("/nowhere/c-0123456789ab")
    after = [count("GET", "/items/{item_id}", "200"), count("other", "/items/{item_id}", "200"),
             count("GET", "(unmatched)", "404")]
    assert [a - b for a, b in zip(after, before)] == [3, 1, 1]
