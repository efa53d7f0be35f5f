"""Durable state: LangGraph checkpoints, the conversation log and the handoff queue, in one database (`BOT_DB_URL`).

Checkpoints are LangGraph's own (SqliteSaver, keyed by conversation id = thread id): they are what lets a conversation
survive a restart mid-way. The log and the queue are plain tables beside them, for the readers that are not the graph
(QA, the agent desk, monitoring): they should not have to deserialise checkpoints.

SQLite runs in WAL mode with `synchronous=NORMAL`: readers never block the writer, and a commit costs no fsync
(durable against a process crash, which is what matters here; a power cut may lose the last turn).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from langgraph.checkpoint.sqlite import SqliteSaver

from bot.config import ConfigError, Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,          -- JSON: id, tier, language, known, name
    channel TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ai',   -- ai | human | closed
    handoff_reason TEXT,
    handoff_turn INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    turn INTEGER,
    intent TEXT,
    sentiment REAL,
    latency_ms REAL,                 -- bot turns: customer message in → reply done
    blocked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, seq)
);
CREATE TABLE IF NOT EXISTS handoffs (
    conversation_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'waiting',  -- waiting | claimed | resolved | returned
    reason TEXT NOT NULL,
    priority TEXT NOT NULL,
    package TEXT NOT NULL,
    claimed_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    skill TEXT,
    language TEXT,
    claimed_at REAL,
    closed_at REAL,
    note TEXT,                       -- the agent's note when resolved or handed back
    PRIMARY KEY (conversation_id, turn)
);
CREATE TABLE IF NOT EXISTS turn_locks (   -- one run at a time per conversation, across processes
    conversation_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,             -- host:pid:thread
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS web_tokens (    -- `bot serve`: who may read a conversation (SHA-256 of its token)
    conversation_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_sessions (  -- `bot serve`: agents logged in to the console
    session_hash TEXT PRIMARY KEY,   -- SHA-256 of the cookie's value
    agent TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handoffs_status ON handoffs (status, created_at);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated_at);
"""
# Columns added after the first release of a table: (table, column, declaration).
MIGRATIONS = [
    ("conversations", "handoff_turn", "INTEGER"),
    ("messages", "latency_ms", "REAL"),
    ("messages", "blocked", "INTEGER NOT NULL DEFAULT 0"),
    ("handoffs", "skill", "TEXT"),
    ("handoffs", "language", "TEXT"),
    ("handoffs", "claimed_at", "REAL"),
    ("handoffs", "closed_at", "REAL"),
    ("handoffs", "note", "TEXT"),
]
LOCK_LEASE_S = 600.0  # a run longer than this (LLM retries included) is presumed dead


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"cannot open database {path}: {exc}") from None
    return conn


def sqlite_path(settings: Settings) -> Path:
    if not settings.db_url.startswith("sqlite:///"):
        raise ConfigError(
            f"BOT_DB_URL={settings.db_url!r}: only sqlite:/// databases are supported in this version"
        )
    return settings.db_path


def open_checkpointer(settings: Settings) -> SqliteSaver:
    saver = SqliteSaver(_connect(sqlite_path(settings)))
    saver.setup()
    return saver


class Database:
    """The conversation log and the handoff queue (thread-safe; one connection guarded by a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = _connect(path)
        self._conn.isolation_level = None  # transactions are explicit (BEGIN IMMEDIATE in _tx)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.executescript(SCHEMA)
            for table, column, declaration in MIGRATIONS:
                columns = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        return cls(sqlite_path(settings))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- conversations ------------------------------------------------------------------------------------------
    def create_conversation(self, conversation_id: str, customer: dict[str, Any], channel: str) -> None:
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO conversations (id, customer, channel, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (conversation_id, json.dumps(customer), channel, now, now),
            )

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, customer, channel, status, handoff_reason, created_at, updated_at"
                " FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            return None
        keys = ("id", "customer", "channel", "status", "handoff_reason", "created_at", "updated_at")
        record = dict(zip(keys, row))
        record["customer"] = json.loads(record["customer"])
        return record

    def sync_transcript(
        self, conversation_id: str, transcript: list[dict[str, Any]], status: str, handoff_reason: str | None,
        *, latency_ms: float | None = None, blocked: bool = False, handoff_turn: int | None = None,
    ) -> None:
        """Upsert every transcript entry by position: idempotent, so replays after a crash never duplicate.

        `latency_ms` and `blocked` describe this run's last bot turn (the QA and monitoring readers want them).
        """
        last_bot = max((i for i, t in enumerate(transcript) if t["role"] == "bot"), default=-1)
        rows = [
            (conversation_id, seq, t["role"], t["text"], t.get("ts", 0.0), t.get("turn"), t.get("intent"),
             t.get("sentiment"), latency_ms if seq == last_bot else None, int(blocked and seq == last_bot))
            for seq, t in enumerate(transcript)
        ]
        with self._tx() as conn:
            (known,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO messages (conversation_id, seq, role, text, ts, turn, intent, sentiment, latency_ms,"
                " blocked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id, seq) DO UPDATE SET"
                " role = excluded.role, text = excluded.text, intent = excluded.intent,"
                " latency_ms = COALESCE(excluded.latency_ms, messages.latency_ms),"
                " blocked = MAX(excluded.blocked, messages.blocked)",
                rows[max(0, known - 1):],
            )
            conn.execute(
                "UPDATE conversations SET status = ?, handoff_reason = COALESCE(?, handoff_reason), updated_at = ?,"
                " handoff_turn = COALESCE(handoff_turn, ?) WHERE id = ?",
                (status, handoff_reason, time.time(), handoff_turn if status == "human" else None, conversation_id),
            )

    def conversations_since(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Stored conversations updated at or after `since` (epoch seconds), with their transcripts (monitoring)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, customer, channel, status, handoff_reason, handoff_turn FROM conversations"
                " WHERE updated_at >= ? ORDER BY created_at", (since,),
            ).fetchall()
            messages = self._conn.execute(
                "SELECT m.conversation_id, m.role, m.text, m.turn, m.intent, m.latency_ms, m.blocked FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id WHERE c.updated_at >= ?"
                " ORDER BY m.conversation_id, m.seq", (since,),
            ).fetchall()
        by_conversation: dict[str, list[dict[str, Any]]] = {}
        for cid, role, text, turn, intent, latency, blocked in messages:
            by_conversation.setdefault(cid, []).append(
                {"role": role, "text": text, "turn": turn, "intent": intent, "latency_ms": latency,
                 "blocked": bool(blocked)}
            )
        return [
            {"id": cid, "customer": json.loads(customer), "channel": channel, "status": status,
             "handoff_reason": reason, "handoff_turn": handoff_turn, "transcript": by_conversation.get(cid, [])}
            for cid, customer, channel, status, reason, handoff_turn in rows
        ]

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT role, text, ts, turn, intent, sentiment FROM messages WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [dict(zip(("role", "text", "ts", "turn", "intent", "sentiment"), r)) for r in rows]

    # -- shared access for the queue (bot/queue.py) -------------------------------------------------------------------
    def transaction(self) -> Any:
        """A write transaction (BEGIN IMMEDIATE: it holds the database's write lock until it ends)."""
        return self._tx()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    # -- one run per conversation at a time ----------------------------------------------------------------------------
    @contextmanager
    def conversation_lock(self, conversation_id: str, timeout: float = 60.0) -> Iterator[None]:
        """Serialise runs of one conversation across threads and processes (a customer's message and an agent's
        reply arriving together must not fork its checkpoints). A lease held by a dead process on this host is
        taken over at once; any other expires after `LOCK_LEASE_S`."""
        owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        deadline = time.monotonic() + timeout
        while not self._try_lock(conversation_id, owner):
            if time.monotonic() > deadline:
                raise TimeoutError(f"conversation {conversation_id} is busy (another run holds it)")
            time.sleep(0.02)
        try:
            yield
        finally:
            with self._tx() as conn:
                conn.execute("DELETE FROM turn_locks WHERE conversation_id = ? AND owner = ?", (conversation_id, owner))

    def _try_lock(self, conversation_id: str, owner: str) -> bool:
        now = time.time()
        with self._tx() as conn:
            row = conn.execute("SELECT owner, expires_at FROM turn_locks WHERE conversation_id = ?",
                               (conversation_id,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now and _alive(row[0]):
                return False
            conn.execute(
                "INSERT INTO turn_locks (conversation_id, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT"
                " (conversation_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
                (conversation_id, owner, now + LOCK_LEASE_S),
            )
            return True

    def messages_after(self, conversation_id: str, seq: int) -> list[dict[str, Any]]:
        """Transcript entries after position `seq` (what a waiting front end has not shown yet), with positions."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, role, text, turn FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq",
                (conversation_id, seq),
            ).fetchall()
        return [dict(zip(("seq", "role", "text", "turn"), r)) for r in rows]


def _alive(owner: str) -> bool:
    """False only when the owner is a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
