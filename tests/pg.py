"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, a fresh cluster in a temporary
directory, loopback only, trust authentication, no fsync (nothing here must survive the test session).

`BOT_TEST_PG_URL=postgresql://…` uses an existing server instead (each test still gets a database of its own).
Without either, the tests that need PostgreSQL fail with the command that installs it: they are never skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True) or [shutil.which(name) or ""]
    if not found[0]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make test` (or `apt-get install postgresql`)")
    return found[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Start with :meth:`start`, make databases with :meth:`new_database`, stop with :meth:`stop`."""

    def __init__(self) -> None:
        self.url = os.environ.get("BOT_TEST_PG_URL", "").strip()
        self.directory: Path | None = None
        self.port = 0

    def start(self) -> "PostgresServer":
        if self.url:
            return self
        self.directory = Path(tempfile.mkdtemp(prefix="bot-pg-"))
        data = self.directory / "data"
        self.port = _free_port()
        run_as = self._run_as()
        if run_as:
            shutil.chown(self.directory, run_as, run_as)
        self._run([_binary("initdb"), "-D", str(data), "-U", "bot", "--auth=trust", "-E", "UTF8",
                   "--no-instructions"], run_as)
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "log"),
                   "-w", "-t", "60", "start"], run_as)
        self.url = f"postgresql://bot@127.0.0.1:{self.port}/postgres"
        return self

    def new_database(self) -> str:
        """A fresh, empty database on the server; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def pause(self) -> None:
        """Stop the server (fast shutdown: connections are cut) — the database is 'briefly unavailable'."""
        assert self.directory is not None, "only a server started here can be paused"
        self._run([_binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop"],
                  self._run_as())

    def resume(self) -> None:
        assert self.directory is not None
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([_binary("pg_ctl"), "-D", str(self.directory / "data"), "-o", options, "-l",
                   str(self.directory / "log"), "-w", "-t", "60", "start"], self._run_as())

    def stop(self) -> None:
        if self.directory is None:
            return
        log = self.directory / "log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if any(word in text for word in ("terminated by signal", "PANIC", "was terminated")):
            print(f"PostgreSQL test server crashed during the session:\n{text[-3000:]}", file=sys.stderr)
        try:
            self._run([_binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"],
                      self._run_as())
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    @staticmethod
    def _run_as() -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user."""
        return "postgres" if os.geteuid() == 0 else None

    @staticmethod
    def _run(command: list[str], run_as: str | None) -> None:
        if run_as:
            command = ["runuser", "-u", run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
