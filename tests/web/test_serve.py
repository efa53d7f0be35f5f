"""`bot serve` as a real process: one worker, and two workers on one SQLite database — a conversation, its token, an
agent's session and the queue work whichever worker takes each request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from bot.accounts import Accounts
from tests.web.conftest import PASSWORD

BOT = [sys.executable, "-m", "bot.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(settings) -> dict[str, str]:
    """The test's database, store and accounts; the repository's data directory (its trained models are cached)."""
    env = dict(os.environ, BOT_DB_URL=settings.db_url, BOT_STORE_DB=str(settings.store_db),
               BOT_AGENTS_FILE=str(settings.agents_path), OTEL_SDK_DISABLED="true")
    for key in ("BOT_LLM_BASE_URL", "BOT_LLM_MODEL", "BOT_DATA_DIR", "BOT_POLICY_DIR"):
        env.pop(key, None)
    return env


def fresh() -> httpx.Client:
    """A client that opens a new connection per request, so the kernel may hand each one to another worker."""
    return httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_workers_on_one_database(settings, workers, tmp_path):
    Accounts(settings.agents_path).add("dana", PASSWORD)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(BOT + ["serve", "--port", str(port), "--workers", str(workers), "--llm", "stub"],
                            env=env_for(settings), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with fresh() as http:
            seen: set[int] = set()
            deadline = time.monotonic() + 90
            while len(seen) < workers:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, f"workers seen: {seen}"
                try:
                    seen.add(http.get(base + "/healthz").json()["worker"])
                except httpx.TransportError:
                    time.sleep(0.3)
            started = http.post(base + "/api/conversations").json()
            conv, auth = started["conversation_id"], {"Authorization": f"Bearer {started['token']}"}
            for text in ("hello", "how long do refunds take?", "I want to talk to a human"):
                reply = http.post(f"{base}/api/conversations/{conv}/messages", json={"text": text}, headers=auth)
                assert reply.status_code == 200, reply.text
            assert reply.json()["handoff"] is True

            login = http.post(base + "/api/agent/login", json={"name": "dana", "password": PASSWORD})
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            cookies = login.cookies
            for _ in range(4):  # the session is in the database: every worker knows it
                assert http.get(base + "/api/agent/me", cookies=cookies).status_code == 200
            sent = http.post(f"{base}/api/agent/handoffs/{conv}/reply", json={"text": "Dana here, hello."},
                             headers=csrf, cookies=cookies)
            assert sent.status_code == 200, sent.text
            history = http.get(f"{base}/api/conversations/{conv}", headers=auth).json()
            assert [m["role"] for m in history["messages"]][-1] == "agent"
            assert len(history["messages"]) == 7
        assert "Traceback" not in (tmp_path / "serve.log").read_text()
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode in (0, -15), (tmp_path / "serve.log").read_text()


def test_a_port_in_use_is_a_clear_error(settings):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        out = subprocess.run(BOT + ["serve", "--port", str(busy.getsockname()[1]), "--llm", "stub"],
                             env=env_for(settings), capture_output=True, timeout=60)
    assert out.returncode == 2 and "cannot listen on 127.0.0.1" in out.stderr.decode()
    assert "Traceback" not in out.stderr.decode()

