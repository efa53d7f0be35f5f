"""A bounded load test on loopback: `bot serve --workers 2` on PostgreSQL, 24 customers at once (288 turns, some
asking for a person), stub LLM with 50 ms latency. Nothing may be lost, duplicated or refused under load, and both
workers must take a share. Throughput is printed, not asserted: `bot bench` measures it on a quiet machine (README)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx

from bot.bench_load import _unthrottled, _until_up
from bot.config import PROJECT_ROOT
from tests.web.test_serve import free_port

CUSTOMERS, CONVERSATIONS, SCRIPT = 24, 3, ["hi", "how long do refunds take?", "do you ship to Canada?", "thanks!"]
HANDOFF = ["hi", "where is my order A10002?", "I want to talk to a human", "are you still there?"]


async def _customer(http: httpx.AsyncClient, i: int, sent: dict[str, list[str]], statuses: list[int]) -> None:
    for n in range(CONVERSATIONS):
        started = await http.post("/api/conversations")
        statuses.append(started.status_code)
        conv, auth = started.json()["conversation_id"], {"Authorization": f"Bearer {started.json()['token']}"}
        script = HANDOFF if (i + n) % 4 == 0 else SCRIPT
        sent[conv] = script
        for k, text in enumerate(script):
            reply = await http.post(f"/api/conversations/{conv}/messages", headers=auth,
                                    json={"text": text, "message_id": f"load-{conv}-{k}"})
            statuses.append(reply.status_code)


def test_two_workers_under_load_lose_and_duplicate_nothing(pg_server, settings, tmp_path):
    db_url = pg_server.new_database()
    port = free_port()
    log = tmp_path / "serve.log"
    env = dict(os.environ, BOT_DB_URL=db_url, BOT_STORE_DB=str(settings.store_db), BOT_STUB_LATENCY_MS="50",
               BOT_AGENTS_FILE=str(settings.agents_path), OTEL_SDK_DISABLED="true",
               BOT_POLICY_DIR=_unthrottled(PROJECT_ROOT / "guardrails", tmp_path / "policies"))
    env.pop("BOT_LLM_BASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--workers", "2",
                             "--llm", "stub"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    sent: dict[str, list[str]] = {}
    statuses: list[int] = []

    async def load() -> float:
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: either worker takes it
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits) as http:
            await _until_up(http, _Proc(proc), 2)
            began = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(_customer(http, i, sent, statuses) for i in range(CUSTOMERS))),
                                   timeout=300)
            return time.monotonic() - began

    try:
        elapsed = asyncio.run(load())
    finally:
        proc.terminate()
        proc.wait(20)
    turns = sum(len(s) for s in sent.values())
    print(f"\n{turns} turns in {elapsed:.1f} s: {turns / elapsed:.1f} turns/s on 2 workers (under pytest's load)")
    assert set(statuses) <= {200, 201}, sorted(set(statuses))  # 201: a conversation started
    assert len(sent) == CUSTOMERS * CONVERSATIONS

    from bot.persistence import Database

    db = Database(db_url)
    try:
        for conv, script in sent.items():
            messages = db.transcript(conv)
            assert [m["text"] for m in messages if m["role"] == "customer"] == script, conv  # none lost or doubled
            bot = sum(m["role"] == "bot" for m in messages)
            if "I want to talk to a human" in script:
                assert 3 <= bot <= 4, (conv, messages)  # after the handoff the bot only says the agent is coming
            else:
                assert bot == 4, (conv, messages)  # one answer per message
        with db.reading() as conn:
            queued = conn.execute("SELECT conversation_id, COUNT(*) FROM handoffs GROUP BY conversation_id").fetchall()
        expected = {c for c, s in sent.items() if "I want to talk to a human" in s}
        assert dict(queued) == {c: 1 for c in expected}  # one handoff each, none lost
    finally:
        db.close()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    workers = {e["pid"] for e in lines if e.get("route") == "/api/conversations/{conversation_id}/messages"}
    assert len(workers) == 2, "both workers answer customer messages"
    assert not [e for e in lines if e.get("level") in ("ERROR", "CRITICAL")]


class _Proc:
    """`_until_up` reads `returncode` (an asyncio subprocess's attribute) from a Popen."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._proc = proc

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()
