"""The same behaviour on SQLite and PostgreSQL (every test runs on both, `db_url` in tests/conftest.py): the
conversation log, checkpoints that another process picks up, the handoff from customer to agent and back, the web's
sessions, the schema set up by racing workers, and a clear error (not a hang, not a stack trace) when the database
is away."""

from __future__ import annotations

import threading

import pytest

from bot.desk import Desk
from bot.persistence import Database
from bot.sql import DatabaseUnavailable
from bot.web.sessions import WebSessions
from tests.fakes import FakeLLM


def test_the_log_is_idempotent_by_position(db_url):
    db = Database(db_url)
    db.create_conversation("c-1", {"id": "cust-1", "tier": "gold"}, "chat")
    db.create_conversation("c-1", {"id": "someone else"}, "voice")  # a second start changes nothing
    transcript = [{"role": "customer", "text": "hi", "ts": 1.5, "turn": 1},
                  {"role": "bot", "text": "hello", "ts": 1.75, "turn": 1}]
    db.sync_transcript("c-1", transcript, "ai", None, latency_ms=12.5)
    db.sync_transcript("c-1", transcript, "ai", None, latency_ms=12.5, blocked=True)  # a replay
    transcript += [{"role": "customer", "text": "a human please", "ts": 2.0, "turn": 2}]
    db.sync_transcript("c-1", transcript, "human", "customer_request", handoff_turn=2)
    record = db.conversation("c-1")
    assert record["customer"] == {"id": "cust-1", "tier": "gold"} and record["channel"] == "chat"
    assert record["status"] == "human" and record["handoff_reason"] == "customer_request"
    assert [m["text"] for m in db.transcript("c-1")] == ["hi", "hello", "a human please"]
    assert db.transcript("c-1")[0]["ts"] == 1.5  # full precision (PostgreSQL's REAL would round epoch times)
    assert [m["seq"] for m in db.messages_after("c-1", 0)] == [1, 2]
    assert db.last_seq("c-1") == 2 and db.last_seq("c-unknown") == -1
    [stored] = db.conversations_since(0.0)
    assert stored["handoff_turn"] == 2 and stored["transcript"][1]["latency_ms"] == 12.5
    assert stored["transcript"][1]["blocked"] is True  # once blocked, a replay does not unblock it
    db.close()


def test_workers_starting_together_set_the_schema_up_once(db_url):
    made, errors = [], []

    def start() -> None:
        try:
            made.append(Database(db_url))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(made) == 4
    made[0].create_conversation("c-1", {}, "chat")
    assert all(db.conversation("c-1") is not None for db in made)
    for db in made:
        db.close()


def test_a_conversation_moves_between_processes_through_the_database(make_engine, settings_on):
    """Two engines on one database are two workers: the customer's side and the agent's desk."""
    bot_side = make_engine(FakeLLM(), settings_on)
    desk_side = make_engine(None, settings_on)
    conv = bot_side.start("cust-1")
    first = bot_side.turn(conv, "where is my order A10002")
    assert not first.handoff and first.reply
    handed = bot_side.turn(conv, "I want to talk to a human")
    assert handed.handoff and handed.handoff_reason == "customer_request"
    desk = Desk(desk_side)
    entry = desk_side.queue.claim(conv, "sam")
    assert entry.package["reason"] == "customer_request"
    desk.reply(conv, "sam", "Hi, Sam here. Your parcel left the warehouse today.")
    # the customer's worker sees the agent's message and the state the desk's run checkpointed
    assert bot_side.waiting_for_human(conv)
    assert any(m["role"] == "agent" for m in bot_side.db.transcript(conv))
    desk.hand_back(conv, "sam", "answered; customer happy")
    after = bot_side.turn(conv, "thanks, and how long do refunds take?")
    assert not after.handoff and after.reply
    roles = [m["role"] for m in bot_side.db.transcript(conv)]
    assert roles.count("customer") == 3 and roles.count("agent") == 1


def test_web_sessions_on_both_databases(db_url):
    db = Database(db_url)
    sessions = WebSessions(db)
    db.create_conversation("c-1", {}, "web")
    token = sessions.issue_conversation_token("c-1", days=1)
    assert sessions.conversation_token_ok("c-1", token)
    assert not sessions.conversation_token_ok("c-1", token + "x")
    cookie, session = sessions.open_agent_session("dana", hours=1)
    assert sessions.agent_session(cookie) == session
    sessions.close_agent_session(cookie)
    assert sessions.agent_session(cookie) is None
    db.close()


def test_an_unreachable_database_is_a_clear_error_not_a_hang():
    db = None
    with pytest.raises(DatabaseUnavailable, match="database unavailable"):
        db = Database("postgresql://bot@127.0.0.1:9/none", timeout_s=1)  # nothing listens on port 9
    assert db is None


def test_sqlite_checkpoints_share_the_log_lock_and_read_history(engine):
    """The checkpointer writes under the log's lock (no two writers of one process on the file); its history reads."""
    assert engine.checkpointer.lock is engine.db.backend.lock
    conv = engine.start("cust-1")
    engine.turn(conv, "where is my order A10002?")
    history = list(engine.graph.get_state_history(engine._config(conv)))
    assert history[0].values["turn"] == 1 and len(history) >= 2  # the end, and the safe point after the tool
