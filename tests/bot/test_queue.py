"""The handoff queue on real databases (every test runs on SQLite and on PostgreSQL): ordering, ageing, routing,
claims (racing threads and processes), state changes, the wait estimate and the per-conversation run lock."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from bot.persistence import Database
from bot.queue import Queue, QueueError


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _package(cid: str, priority: str = "normal", skill: str = "general", language: str = "en", turn: int = 1,
             **extra) -> dict:
    return {"conversation_id": cid, "reason": "customer_request", "priority": priority, "skill": skill,
            "language": language, "turn": turn, **extra}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(db_url: str, policies, clock) -> Queue:
    db = Database(db_url)
    yield Queue(db, policies.handoff, clock)
    db.close()


def test_most_urgent_first_then_longest_waiting(queue, clock):
    queue.put(_package("c-normal-old"))
    clock.now += 60
    queue.put(_package("c-urgent", "urgent"))
    clock.now += 60
    queue.put(_package("c-normal-new"))
    assert [e.package["conversation_id"] for e in queue.entries()] == ["c-urgent", "c-normal-old", "c-normal-new"]


def test_waiting_raises_the_priority_one_level_per_aging_period(queue, clock, policies):
    queue.put(_package("c-1"))
    assert queue.entries()[0].priority == "normal"
    clock.now += policies.handoff.aging_minutes * 60
    assert queue.entries()[0].priority == "high"
    clock.now += policies.handoff.aging_minutes * 60 * 5
    entry = queue.entries()[0]
    assert entry.priority == "urgent" and entry.as_json()["initial_priority"] == "normal"


def test_requeueing_the_same_handoff_updates_it_and_keeps_its_claim(queue):
    queue.put(_package("c-1", summary="first"))
    queue.claim("c-1", "sam")
    queue.put(_package("c-1", summary="with the customer's later message"))
    entry = queue.get("c-1")
    assert entry.status == "claimed" and entry.claimed_by == "sam"
    assert entry.package["summary"] == "with the customer's later message"
    assert len(queue.entries(("waiting", "claimed"))) == 1


def test_claim_is_exclusive_and_errors_are_clear(queue):
    queue.put(_package("c-1"))
    assert queue.claim("c-1", "sam").claimed_by == "sam"
    assert queue.claim("c-1", "sam").claimed_by == "sam"  # claiming again is harmless
    with pytest.raises(QueueError, match="already claimed by sam"):
        queue.claim("c-1", "kim")
    with pytest.raises(QueueError, match="claimed by sam, not kim"):
        queue.require_holder("c-1", "kim")
    with pytest.raises(QueueError, match="no handoff for conversation c-404"):
        queue.claim("c-404", "sam")
    queue.close("c-1", "sam", "resolved", "done")
    with pytest.raises(QueueError, match="already resolved"):
        queue.claim("c-1", "kim")


def test_release_puts_it_back_for_anyone(queue):
    queue.put(_package("c-1"))
    queue.claim("c-1", "sam")
    queue.release("c-1", "sam")
    assert queue.get("c-1").status == "waiting"
    assert queue.claim("c-1", "kim").claimed_by == "kim"


def test_routing_by_skill_and_language(queue):
    queue.put(_package("c-billing-de", skill="billing", language="de"))
    queue.put(_package("c-orders-en", skill="orders", language="en"))
    assert [e.package["conversation_id"] for e in queue.entries(skills=("orders",))] == ["c-orders-en"]
    assert queue.claim_next("kim", skills=("orders", "billing"), languages=("de",)).package["conversation_id"] \
        == "c-billing-de"
    assert queue.claim_next("kim", skills=("billing",)) is None  # the only billing one is taken
    assert queue.claim_next("sam").package["conversation_id"] == "c-orders-en"
    assert queue.claim_next("sam") is None


def test_a_returning_conversation_waits_for_its_agent_then_for_anyone(queue, clock, policies):
    queue.put(_package("c-back", "high", preferred_agent="sam"))
    assert queue.claim_next("kim") is None
    clock.now += policies.handoff.aging_minutes * 60
    assert queue.claim_next("kim").package["conversation_id"] == "c-back"


def test_wait_estimate_is_unknown_without_history_then_the_median_claim_wait(queue, clock):
    queue.put(_package("c-1"))
    assert queue.wait_minutes({"conversation_id": "c-new", "priority": "normal"}) is None
    for cid, waited_s in (("c-a", 60), ("c-b", 180), ("c-c", 300)):
        queue.put(_package(cid))
        clock.now += waited_s
        queue.claim(cid, "sam")
    # median 3 minutes; c-1 is still waiting ahead of a new normal handoff; one agent active → 2 places × 3 min
    assert queue.wait_minutes({"conversation_id": "c-new", "priority": "normal"}) == pytest.approx(6.0)
    # an urgent one is not behind the normal c-1
    assert queue.wait_minutes({"conversation_id": "c-new", "priority": "urgent"}) == pytest.approx(3.0)


def test_close_marks_resolved_or_returned_only(queue):
    queue.put(_package("c-1"))
    with pytest.raises(ValueError):
        queue.close("c-1", "sam", "deleted")
    queue.close("c-1", "sam", "returned", "back to the bot")
    entry = queue.get("c-1")
    assert entry.status == "returned" and entry.claimed_by == "sam"
    queue.put(_package("c-1", turn=5))  # escalates again later: a new handoff of the same conversation
    assert queue.get("c-1").status == "waiting" and len(queue.entries()) == 1


def test_threads_racing_to_claim_one_handoff_exactly_one_wins(db_url, policies):
    path = db_url
    setup = Database(path)
    Queue(setup, policies.handoff).put(_package("c-race"))
    winners, losers = [], []
    start = threading.Barrier(8)

    def agent(name: str) -> None:
        db = Database(path)  # one connection each, like separate desks
        start.wait()
        try:
            Queue(db, policies.handoff).claim("c-race", name)
            winners.append(name)
        except QueueError:
            losers.append(name)
        finally:
            db.close()

    threads = [threading.Thread(target=agent, args=(f"agent-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 7
    assert Queue(setup, policies.handoff).get("c-race").claimed_by == winners[0]
    setup.close()


def _claim_in_process(path: str, name: str, start) -> str:  # runs in a child process
    from bot.config import PROJECT_ROOT
    from bot.policy import load_policies

    db = Database(path)
    queue = Queue(db, load_policies(PROJECT_ROOT / "guardrails").handoff)
    start.wait()
    try:
        queue.claim("c-race", name)
        return name
    except QueueError:
        return ""
    finally:
        db.close()


def test_processes_racing_to_claim_one_handoff_exactly_one_wins(db_url, policies):
    path = db_url
    db = Database(path)
    Queue(db, policies.handoff).put(_package("c-race"))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(4)
        with context.Pool(4) as pool:
            results = pool.starmap(_claim_in_process, [(str(path), f"agent-{i}", start) for i in range(4)])
    winners = [r for r in results if r]
    assert len(winners) == 1
    assert Queue(db, policies.handoff).get("c-race").claimed_by == winners[0]
    db.close()


def test_conversation_lock_serialises_runs_and_survives_a_dead_owner(db_url):
    db = Database(db_url)
    order = []
    with db.conversation_lock("c-1"):
        other = threading.Thread(target=lambda: (db.conversation_lock("c-1").__enter__(), order.append("second")))
        other.start()
        other.join(0.2)
        order.append("first")
        assert other.is_alive()  # waiting for the lock
    other.join(2)
    assert order == ["first", "second"]
    # a lock left by a process that died on this host is taken over at once
    import socket

    with db.transaction() as conn:
        conn.execute("UPDATE turn_locks SET owner = ?", (f"{socket.gethostname()}:999999999:1",))
    with db.conversation_lock("c-1", timeout=1):
        pass
    db.close()
