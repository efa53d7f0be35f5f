"""The two SQL backends behind `BOT_DB_URL`: SQLite (one file, the default) and PostgreSQL (many workers, many hosts).

Callers (`bot.persistence`, `bot.queue`, `bot.web.sessions`) write one dialect — SQLite's `?` placeholders and the
`INSERT … ON CONFLICT` upserts both databases understand — and get a connection with sqlite3's call shape
(`execute(sql, params)` returning a cursor) from :meth:`Backend.transaction` or :meth:`Backend.reading`. What
differs is kept here: how a write transaction excludes others (SQLite: `BEGIN IMMEDIATE`, one writer per file;
PostgreSQL: row locks, hence :attr:`Backend.for_update`), connection sharing (one guarded connection vs a pool per
process) and the types of the schema (PostgreSQL's `REAL` is 4 bytes: timestamps need `DOUBLE PRECISION`).

Every failure to reach the database surfaces as :class:`DatabaseUnavailable`, so front ends can answer "try again"
(HTTP 503) instead of a stack trace; the turn that hit it changed nothing (its transaction rolled back).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_LOCK = 7_233_001  # PostgreSQL advisory lock: workers starting together create the tables one at a time


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or did not answer in time; nothing was changed. Retrying may succeed."""


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class Backend:
    """What `bot.persistence` needs from a database."""

    for_update = ""  # appended to a SELECT that must lock the rows it reads until the transaction ends

    def transaction(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def reading(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def setup(self, schema: str, migrations: list[tuple[str, str, str]],
              after: str = "") -> None:  # pragma: no cover - interface
        """Create the tables, add the columns of later releases, then run `after` (indexes on those columns)."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SqliteBackend(Backend):
    """Writes go through one connection guarded by a lock (SQLite has one writer per file anyway); reads each use
    their thread's own connection (WAL: readers see the last commit and never wait for the writer).

    `synchronous=NORMAL`: a commit costs no fsync — durable against a process crash, which is what matters here;
    a power cut may lose the last turn.

    `lock` is public so that LangGraph's checkpointer, on its own connection to the same file, takes turns with
    this one: two connections of one process writing at once make SQLite's busy handler sleep (1, 2, 5 … 100 ms
    steps), which under load stretched turns by 300 ms while the CPU idled. Reads stay outside the lock: a reader
    holding it waits for the GIL on every call into SQLite, and under load every turn queued behind the reads.
    """

    def __init__(self, path: Path, timeout_s: float = 10.0) -> None:
        self.path = path
        self.conn = connect_sqlite(path, timeout_s)
        self.conn.isolation_level = None  # transactions are explicit (BEGIN IMMEDIATE)
        self.lock = threading.RLock()
        self.readers = Readers(path, timeout_s)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.lock, _unavailable_on(sqlite3.OperationalError, when=_sqlite_busy):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with _unavailable_on(sqlite3.OperationalError, when=_sqlite_busy):
            yield self.readers.get()

    def setup(self, schema: str, migrations: list[tuple[str, str, str]], after: str = "") -> None:
        with self.lock:
            self.conn.executescript(schema)
            # Check and add each column under the file's write lock: two processes starting together would both
            # see a column missing and the second ALTER would fail ("duplicate column name").
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for table, column, declaration in migrations:
                    columns = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
                    if column not in columns:
                        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            if after:
                self.conn.executescript(after)

    def close(self) -> None:
        with self.lock:
            self.readers.close()
            self.conn.close()


class Readers:
    """One autocommit connection per thread for reading a SQLite file, opened on the thread's first read."""

    def __init__(self, path: Path, timeout_s: float = 10.0) -> None:
        self.path, self.timeout_s = path, timeout_s
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def get(self) -> sqlite3.Connection:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_sqlite(self.path, self.timeout_s)
            conn.isolation_level = None
            with self._lock:
                self._opened.append(conn)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()


def connect_sqlite(path: Path, timeout_s: float = 10.0) -> sqlite3.Connection:
    from bot.config import ConfigError

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=timeout_s)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"cannot open database {path}: {exc}") from None
    return conn


def pool_callbacks() -> dict[str, Any]:
    """Every loan is checked with a round trip first, so a pool that outlived a database restart hands out working
    connections, not dead ones. (Checking only connections idle for a while was tried: a connection returned just
    before a restart was then lent dead, and the client's retry failed too.)"""
    from psycopg_pool import ConnectionPool

    return {"check": ConnectionPool.check_connection}


class PostgresBackend(Backend):
    """A connection pool per process; each transaction borrows a connection (see :func:`pool_callbacks`)."""

    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 5.0) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.timeout_s = timeout_s
        self.pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout_s, open=False, name="bot-db",
            **pool_callbacks(),
            kwargs={"autocommit": False, "connect_timeout": max(1, int(timeout_s))},
        )
        self.pool.open(wait=False)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._connection() as conn, conn.transaction():
            yield _PgConnection(conn)

    reading = transaction  # a read is a short transaction (a consistent snapshot for its statements)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg
        from psycopg_pool import PoolTimeout

        with _unavailable_on(psycopg.OperationalError, PoolTimeout):
            with self.pool.connection() as conn:
                yield conn

    def setup(self, schema: str, migrations: list[tuple[str, str, str]], after: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
            for statement in _statements(pg_schema(schema)):
                conn.execute(statement)
            for table, column, declaration in migrations:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {pg_schema(declaration)}")
            for statement in _statements(pg_schema(after)):
                conn.execute(statement)

    def close(self) -> None:
        self.pool.close()


class _PgConnection:
    """A psycopg connection with sqlite3's call shape (`?` placeholders; `execute` returns the cursor)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._conn.execute(pg_sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Any) -> Any:
        cursor = self._conn.cursor()
        cursor.executemany(pg_sql(sql), list(rows))
        return cursor


@lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """SQLite's dialect as written in this project → PostgreSQL's (placeholders; a literal % must be doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def pg_schema(ddl: str) -> str:
    return re.sub(r"\bBLOB\b", "BYTEA", re.sub(r"\bREAL\b", "DOUBLE PRECISION", ddl))


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@contextmanager
def database_errors() -> Iterator[None]:
    """The drivers' own failures to reach the database (LangGraph's savers call them directly) as
    :class:`DatabaseUnavailable`; a bad statement still raises as itself."""
    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg
        from psycopg_pool import PoolTimeout

        errors += [psycopg.OperationalError, PoolTimeout]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass

    def reachable(exc: BaseException) -> bool:
        return not isinstance(exc, sqlite3.OperationalError) or _sqlite_busy(exc)

    with _unavailable_on(*errors, when=reachable):
        yield


def _sqlite_busy(exc: BaseException) -> bool:
    """SQLite reports a locked or unreadable file and a bad statement with one exception type: tell them apart."""
    text = str(exc).lower()
    return any(word in text for word in ("locked", "busy", "unable to open", "disk i/o", "readonly"))


@contextmanager
def _unavailable_on(*errors: type[BaseException], when: Any = None) -> Iterator[None]:
    try:
        yield
    except errors as exc:
        if when is not None and not when(exc):
            raise
        raise DatabaseUnavailable(f"database unavailable: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
