"""Durable state: LangGraph checkpoints, the conversation log and the handoff queue, in one database (`BOT_DB_URL`).

Checkpoints are LangGraph's own (SqliteSaver or PostgresSaver, keyed by conversation id = thread id): they are what
lets a conversation survive a restart or a killed worker mid-way. The log and the queue are plain tables beside them,
for the readers that are not the graph (QA, the agent desk, monitoring): they should not have to deserialise
checkpoints. SQLite or PostgreSQL: `bot.sql` keeps what differs; every statement here is written once for both.
"""

from __future__ import annotations

import json
import logging
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
from bot.sql import (
    SCHEMA_LOCK,
    Backend,
    PostgresBackend,
    Readers,
    SqliteBackend,
    connect_sqlite,
    is_postgres,
    pool_callbacks,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,          -- JSON: id, tier, language, known, name
    channel TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ai',   -- ai | human | closed
    handoff_reason TEXT,
    handoff_turn INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_message_id TEXT,            -- the client's id of the last customer message taken in (retries are idempotent)
    last_message_done INTEGER NOT NULL DEFAULT 0,  -- 1 once that message's turn finished
    customer_id TEXT,                -- the store's customer id (NULL for a guest): the customer's history
    operating_mode TEXT,             -- ai_first | human_led | hybrid (guardrails/modes.yaml, fixed at the start)
    cohort TEXT,                     -- the modes.yaml cohort the customer fell in ("default" outside them all)
    csat REAL,                       -- 1..5: the customer's rating, or the proxy from the sentiment trail
    csat_source TEXT,                -- customer | proxy
    csat_at REAL
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
CREATE TABLE IF NOT EXISTS agent_presence (  -- who is signed in to take handoffs, with what skills and room
    agent TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'offline',  -- online | away | offline
    skills TEXT NOT NULL DEFAULT '[]',        -- JSON list of handoff skills (guardrails/handoff.yaml); [] = any
    languages TEXT NOT NULL DEFAULT '["en"]', -- JSON list of ISO 639-1 codes
    max_concurrent INTEGER NOT NULL DEFAULT 3,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (         -- agents' feedback on what the bot did (bot/feedback.py); no raw PII
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    turn INTEGER,                    -- the customer turn the flag is about (1-based); NULL = the whole conversation
    kind TEXT NOT NULL,              -- misrouted | wrong_intent | bad_answer | rail_false_positive | rail_false_negative
    agent TEXT NOT NULL,
    correction TEXT NOT NULL,        -- JSON: what should have happened (redacted)
    observed TEXT NOT NULL,          -- JSON: what the bot did, read when the flag was made
    note TEXT,                       -- the agent's words (redacted)
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS intent_models (  -- models `bot train` activated (bot/model_sync.py): every host runs them
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,              -- the file's name under <data>/nlu/trained/
    base_key TEXT NOT NULL,          -- the shipped model it was trained beside
    model BLOB NOT NULL,             -- the .npz file's bytes
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS intent_model_active (  -- one row (id 1) once `bot train` has run: the model in force
    id INTEGER PRIMARY KEY,
    sha256 TEXT,                     -- NULL: the shipped model
    changed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handoffs_status ON handoffs (status, created_at);
CREATE INDEX IF NOT EXISTS flags_created ON flags (created_at);
CREATE INDEX IF NOT EXISTS flags_conversation ON flags (conversation_id, kind, turn);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated_at);
CREATE INDEX IF NOT EXISTS conversations_created ON conversations (created_at);  -- report, roi, monitor windows
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
    ("conversations", "last_message_id", "TEXT"),
    ("conversations", "last_message_done", "INTEGER NOT NULL DEFAULT 0"),
    ("conversations", "customer_id", "TEXT"),
    ("conversations", "operating_mode", "TEXT"),
    ("conversations", "cohort", "TEXT"),
    ("conversations", "csat", "REAL"),
    ("conversations", "csat_source", "TEXT"),
    ("conversations", "csat_at", "REAL"),
    ("messages", "confidence", "REAL"),          # bot turns: how sure the bot was of the intent it answered
    ("messages", "prompt_tokens", "INTEGER"),    # bot turns: LLM tokens read and written in the turn (ROI)
    ("messages", "completion_tokens", "INTEGER"),
]
# Indexes on migrated columns (made after the migrations, so an old database gets the column first).
INDEXES = """
CREATE INDEX IF NOT EXISTS conversations_customer ON conversations (customer_id, created_at);
"""
LOCK_LEASE_S = 30.0  # a holder that has not renewed its run lease for this long is presumed dead


def sqlite_path(settings: Settings) -> Path:
    if is_postgres(settings.db_url):
        raise ConfigError(f"BOT_DB_URL={settings.db_url!r} is a PostgreSQL URL, not a SQLite file")
    return settings.db_path


def open_checkpointer(settings: Settings, db: Database | None = None) -> Any:
    """LangGraph's own checkpointer on the same database: SqliteSaver, or PostgresSaver over a pool of its own
    (it needs autocommit connections that return rows as dicts, unlike the log's).

    On SQLite, pass the process's `db`: the saver then shares its lock (see `bot.sql.SqliteBackend`)."""
    if not is_postgres(settings.db_url):
        backend = db.backend if db is not None and isinstance(db.backend, SqliteBackend) else None
        saver = _SqliteSaver(sqlite_path(settings), backend.lock if backend else None)
        saver.setup()
        return saver
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        settings.db_url, min_size=1, max_size=settings.db_pool_size, timeout=5.0, open=False, name="bot-checkpoints",
        **pool_callbacks(),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row, "connect_timeout": 10},
    )
    pool.open(wait=False)
    saver = PostgresSaver(pool)  # type: ignore[arg-type]
    with pool.connection() as conn:  # workers starting together: one creates LangGraph's tables, the rest wait
        conn.execute(f"SELECT pg_advisory_lock({SCHEMA_LOCK + 1})")
        try:
            saver.setup()
        finally:
            conn.execute(f"SELECT pg_advisory_unlock({SCHEMA_LOCK + 1})")
    return saver


class _SqliteSaver(SqliteSaver):
    """LangGraph's SqliteSaver with its reads on a connection per thread, outside its lock (see
    `bot.sql.SqliteBackend` for why), and its writes under the lock of the log's connection when given."""

    def __init__(self, path: Path, lock: Any = None) -> None:
        super().__init__(connect_sqlite(path))
        if lock is not None:
            self.lock = lock
        self.readers = Readers(path)

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        if transaction:
            with super().cursor(transaction=True) as cur:
                yield cur
            return
        cur = self.readers.get().cursor()
        try:
            yield cur
        finally:
            cur.close()

    def list(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self.lock:  # its second cursor is on the shared connection; read all before the lock is let go
            found = [*super().list(*args, **kwargs)]
        yield from found

    def close(self) -> None:
        with self.lock:
            self.readers.close()
            self.conn.close()


def close_checkpointer(saver: Any) -> None:
    if isinstance(saver, _SqliteSaver):
        saver.close()
        return
    resource = getattr(saver, "conn", None)  # SqliteSaver: a connection; PostgresSaver: its pool; in memory: none
    if resource is not None:
        try:
            resource.close()
        except Exception:  # already closed
            pass


class Database:
    """The conversation log, the handoff queue and the web's sessions, on SQLite or PostgreSQL (thread-safe).

    `target` is a SQLite file path or a `sqlite:///` / `postgresql://` URL.
    """

    def __init__(self, target: Path | str, *, pool_size: int = 10, timeout_s: float = 5.0) -> None:
        url = str(target)
        if is_postgres(url):
            self.backend: Backend = PostgresBackend(url, max_size=pool_size, timeout_s=timeout_s)
            self.path: Path | None = None
        else:
            self.path = Path(url.removeprefix("sqlite:///"))
            self.backend = SqliteBackend(self.path, timeout_s)
        self.for_update = self.backend.for_update
        self.backend.setup(SCHEMA, MIGRATIONS, INDEXES)
        self._leases = _Leases(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        return cls(settings.db_url, pool_size=settings.db_pool_size)

    def _tx(self) -> Any:
        return self.backend.transaction()

    def close(self) -> None:
        self._leases.stop()
        self.backend.close()

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers a trivial query."""
        with self.backend.reading() as conn:
            conn.execute("SELECT 1").fetchone()

    # -- conversations ------------------------------------------------------------------------------------------
    def create_conversation(self, conversation_id: str, customer: dict[str, Any], channel: str,
                            cohort: dict[str, Any] | None = None) -> None:
        now = time.time()
        cohort = cohort or {}
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO conversations (id, customer, channel, created_at, updated_at, operating_mode, cohort,"
                " customer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (conversation_id, json.dumps(customer), channel, now, now, cohort.get("mode"), cohort.get("name"),
                 customer.get("id") if customer.get("known") else None),
            )

    def customer_history(self, customer_id: str | None, since: float, conversation_id: str = "") -> dict[str, int]:
        """The customer's other conversations started since `since`, and how many of them went to a person."""
        if not customer_id:
            return {"conversations": 0, "handoffs": 0}
        with self.backend.reading() as conn:
            row = conn.execute(
                "SELECT COUNT(*), COUNT(handoff_turn) FROM conversations WHERE customer_id = ? AND created_at >= ?"
                " AND id <> ?", (customer_id, since, conversation_id),
            ).fetchone()
        return {"conversations": int(row[0]), "handoffs": int(row[1])}

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        with self.backend.reading() as conn:
            row = conn.execute(
                "SELECT id, customer, channel, status, handoff_reason, created_at, updated_at, operating_mode, cohort,"
                " csat, csat_source, handoff_turn FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            return None
        keys = ("id", "customer", "channel", "status", "handoff_reason", "created_at", "updated_at",
                "operating_mode", "cohort", "csat", "csat_source", "handoff_turn")
        record = dict(zip(keys, row))
        record["customer"] = json.loads(record["customer"])
        return record

    def last_message(self, conversation_id: str) -> tuple[str | None, bool]:
        """The client's id of the last customer message this conversation took in, and whether its turn finished."""
        with self.backend.reading() as conn:
            row = conn.execute("SELECT last_message_id, last_message_done FROM conversations WHERE id = ?",
                               (conversation_id,)).fetchone()
        return (row[0], bool(row[1])) if row else (None, False)

    def take_message(self, conversation_id: str, message_id: str) -> None:
        """Record that the customer message with the client's id `message_id` is being answered."""
        with self._tx() as conn:
            conn.execute("UPDATE conversations SET last_message_id = ?, last_message_done = 0 WHERE id = ?",
                         (message_id, conversation_id))

    def sync_transcript(
        self, conversation_id: str, transcript: list[dict[str, Any]], status: str, handoff_reason: str | None,
        *, latency_ms: float | None = None, blocked: bool = False, handoff_turn: int | None = None,
        message_done: bool = False, tokens: tuple[int, int] | None = None,
    ) -> None:
        """Upsert every transcript entry by position: idempotent, so replays after a crash never duplicate.

        `latency_ms`, `blocked` and `tokens` (LLM prompt and completion tokens) describe this run's last bot turn
        (the QA, monitoring and ROI readers want them);
        `message_done` marks the customer message taken in last as answered (see :meth:`last_message`).
        """
        last_bot = max((i for i, t in enumerate(transcript) if t["role"] == "bot"), default=-1)
        prompt, completion = tokens if tokens else (None, None)
        rows = [
            (conversation_id, seq, t["role"], t["text"], t.get("ts", 0.0), t.get("turn"), t.get("intent"),
             t.get("sentiment"), latency_ms if seq == last_bot else None, int(blocked and seq == last_bot),
             t.get("confidence"), prompt if seq == last_bot else None, completion if seq == last_bot else None)
            for seq, t in enumerate(transcript)
        ]
        with self._tx() as conn:
            (known,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO messages (conversation_id, seq, role, text, ts, turn, intent, sentiment, latency_ms,"
                " blocked, confidence, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (conversation_id, seq) DO UPDATE SET"
                " role = excluded.role, text = excluded.text, intent = excluded.intent,"
                " latency_ms = COALESCE(excluded.latency_ms, messages.latency_ms),"
                " confidence = COALESCE(excluded.confidence, messages.confidence),"
                " prompt_tokens = COALESCE(excluded.prompt_tokens, messages.prompt_tokens),"
                " completion_tokens = COALESCE(excluded.completion_tokens, messages.completion_tokens),"
                " blocked = CASE WHEN excluded.blocked > messages.blocked THEN excluded.blocked ELSE messages.blocked"
                " END",
                rows[max(0, known - 1):],
            )
            conn.execute(
                "UPDATE conversations SET status = ?, handoff_reason = COALESCE(?, handoff_reason), updated_at = ?,"
                " handoff_turn = COALESCE(handoff_turn, ?), last_message_done = CASE WHEN ? = 1 THEN 1 ELSE"
                " last_message_done END WHERE id = ?",
                (status, handoff_reason, time.time(), handoff_turn if status == "human" else None,
                 int(message_done), conversation_id),
            )

    def rate(self, conversation_id: str, score: float, source: str) -> bool:
        """Store the conversation's CSAT (`source` customer or proxy). A proxy never replaces a customer's rating.
        Returns whether it was stored."""
        if source not in ("customer", "proxy"):
            raise ValueError(f"a CSAT source is customer or proxy, not {source!r}")
        keep = " AND (csat IS NULL OR csat_source = 'proxy')" if source == "proxy" else ""
        with self._tx() as conn:
            changed = conn.execute(
                f"UPDATE conversations SET csat = ?, csat_source = ?, csat_at = ? WHERE id = ?{keep}",
                (score, source, time.time(), conversation_id),
            ).rowcount
        return bool(changed)

    def conversations_since(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Stored conversations updated at or after `since` (epoch seconds), with their transcripts (monitoring)."""
        with self.backend.reading() as conn:
            rows = conn.execute(
                "SELECT id, customer, channel, status, handoff_reason, handoff_turn FROM conversations"
                " WHERE updated_at >= ? ORDER BY created_at", (since,),
            ).fetchall()
            messages = conn.execute(
                "SELECT m.conversation_id, m.role, m.text, m.turn, m.intent, m.latency_ms, m.blocked, m.confidence,"
                " m.sentiment FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id WHERE c.updated_at >= ?"
                " ORDER BY m.conversation_id, m.seq", (since,),
            ).fetchall()
        by_conversation: dict[str, list[dict[str, Any]]] = {}
        for cid, role, text, turn, intent, latency, blocked, confidence, sentiment in messages:
            by_conversation.setdefault(cid, []).append(
                {"role": role, "text": text, "turn": turn, "intent": intent, "latency_ms": latency,
                 "blocked": bool(blocked), "confidence": confidence, "sentiment": sentiment}
            )
        return [
            {"id": cid, "customer": json.loads(customer), "channel": channel, "status": status,
             "handoff_reason": reason, "handoff_turn": handoff_turn, "transcript": by_conversation.get(cid, [])}
            for cid, customer, channel, status, reason, handoff_turn in rows
        ]

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.backend.reading() as conn:
            rows = conn.execute(
                "SELECT role, text, ts, turn, intent, sentiment, blocked, confidence FROM messages"
                " WHERE conversation_id = ? ORDER BY seq", (conversation_id,),
            ).fetchall()
        keys = ("role", "text", "ts", "turn", "intent", "sentiment", "blocked", "confidence")
        return [dict(zip(keys, r[:6] + (bool(r[6]), r[7]))) for r in rows]

    # -- shared access for the queue (bot/queue.py) -------------------------------------------------------------------
    def transaction(self) -> Any:
        """A write transaction (SQLite: BEGIN IMMEDIATE, the file's write lock until it ends; PostgreSQL: row locks,
        so a read that decides a write adds :attr:`for_update`)."""
        return self.backend.transaction()

    def reading(self) -> Any:
        return self.backend.reading()

    # -- one run per conversation at a time ----------------------------------------------------------------------------
    @contextmanager
    def conversation_lock(self, conversation_id: str, timeout: float = 60.0) -> Iterator[None]:
        """Serialise runs of one conversation across threads and processes (a customer's message and an agent's
        reply arriving together must not fork its checkpoints).

        The lock is a lease row in `turn_locks`, renewed by this process while it runs (see :class:`_Leases`): a
        lease whose holder died on this host is taken over at once, one held on another host once it lapses
        (`LOCK_LEASE_S` after that process last renewed it). A row left behind by a dead holder also marks a run
        that was cut mid-way (:meth:`stale_locks`).
        """
        owner = f"{self._leases.prefix}{threading.get_ident()}"
        deadline = time.monotonic() + timeout
        while not self._try_lock(conversation_id, owner):
            if time.monotonic() > deadline:
                raise TimeoutError(f"conversation {conversation_id} is busy (another run holds it)")
            time.sleep(0.02)
        self._leases.hold()
        try:
            yield
        finally:
            self._leases.drop()
            with self._tx() as conn:
                conn.execute("DELETE FROM turn_locks WHERE conversation_id = ? AND owner = ?", (conversation_id, owner))

    def _try_lock(self, conversation_id: str, owner: str) -> bool:
        now = time.time()
        with self._tx() as conn:
            taken = conn.execute(
                "INSERT INTO turn_locks (conversation_id, owner, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (conversation_id) DO NOTHING", (conversation_id, owner, now + LOCK_LEASE_S),
            ).rowcount
            if taken:
                return True
            row = conn.execute("SELECT owner, expires_at FROM turn_locks WHERE conversation_id = ?" + self.for_update,
                               (conversation_id,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now and _alive(row[0]):
                return False
            conn.execute("UPDATE turn_locks SET owner = ?, expires_at = ? WHERE conversation_id = ?",
                         (owner, now + LOCK_LEASE_S, conversation_id))
            return True

    def stale_locks(self) -> list[str]:
        """Conversations whose run lease was left by a holder that is gone: runs cut mid-way (a killed worker)."""
        with self.backend.reading() as conn:
            rows = conn.execute("SELECT conversation_id, owner, expires_at FROM turn_locks").fetchall()
        now = time.time()
        return [cid for cid, owner, expires in rows if expires <= now or not _alive(owner)]

    def last_seq(self, conversation_id: str) -> int:
        """The position of the conversation's last logged message (-1: none yet)."""
        with self.backend.reading() as conn:
            row = conn.execute("SELECT MAX(seq) FROM messages WHERE conversation_id = ?", (conversation_id,)).fetchone()
        return -1 if row is None or row[0] is None else int(row[0])

    def messages_after(self, conversation_id: str, seq: int) -> list[dict[str, Any]]:
        """Transcript entries after position `seq` (what a waiting front end has not shown yet), with positions."""
        with self.backend.reading() as conn:
            rows = conn.execute(
                "SELECT seq, role, text, turn FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq",
                (conversation_id, seq),
            ).fetchall()
        return [dict(zip(("seq", "role", "text", "turn"), r)) for r in rows]


class _Leases:
    """Renews this process's run leases every third of `LOCK_LEASE_S` from one background thread, so a long run
    (a slow LLM, its retries) keeps its lock while a crashed process's locks lapse quickly for every other host."""

    def __init__(self, db: "Database") -> None:
        self.db = db
        self.prefix = f"{socket.gethostname()}:{os.getpid()}:"
        self._held = 0  # runs of this process holding a lease now (the renewal covers all of them at once)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self) -> None:
        with self._lock:
            self._held += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="run-leases", daemon=True)
                self._thread.start()

    def drop(self) -> None:
        with self._lock:
            self._held -= 1

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(LOCK_LEASE_S / 3):
            with self._lock:
                if not self._held:
                    continue
            try:
                with self.db.transaction() as conn:
                    conn.execute("UPDATE turn_locks SET expires_at = ? WHERE owner LIKE ?",
                                 (time.time() + LOCK_LEASE_S, self.prefix + "%"))
            except Exception as exc:  # the database is away: the next tick tries again, the lease may lapse
                log.warning("could not renew run leases: %s", exc)


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
