"""`bot bench`'s load figures: how many conversations one worker carries, and what more workers add.

`concurrency` — conversations in flight on one worker: N customers, each in a conversation at once, write a message,
wait for the whole reply, read and type for a while (`THINK_S`, uniform), write again; after the mix's four messages
they start a new conversation, so N stay open throughout. The worker is run the way `bot serve` runs it: an event
loop hands each turn to a bounded thread pool (the engine is synchronous: LangGraph, the rails, the database). The
LLM is the stub with a fixed latency (300 ms by default). A turn's overhead is what the customer waits beyond the
LLM: from sending to the whole reply, minus the time inside LLM calls — so waiting for a free thread, the GIL and
the database all count. Levels rise until p95 overhead passes the target; `conversations` is the largest level that
met it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console

from bot.bench import _pct
from bot.config import Settings

LEVELS = (100, 250, 500, 750, 1000)
THINK_S = (5.0, 15.0)  # a customer reads the reply and types the next message: 10 s on average
TARGET_P95_MS = 50.0
MIX = ["hi", "where is my order A10002?", "how long do refunds take?", "thanks!"]


def measure_concurrency(settings: Settings, console: Console, *, levels: tuple[int, ...] = LEVELS,
                        seconds: float = 20.0, latency_s: float = 0.3, threads: int = 40,
                        think_s: tuple[float, float] = THINK_S, target_ms: float = TARGET_P95_MS) -> dict[str, Any]:
    from bot.engine import Engine
    from bot.llm.stub import StubLLM

    with tempfile.TemporaryDirectory(prefix="bot-bench-load-") as tmp:
        local = dataclasses.replace(settings, store_db=Path(tmp) / "store.sqlite",
                                    db_url=settings.db_url if settings.db_url.startswith("postgres")
                                    else f"sqlite:///{Path(tmp) / 'load.sqlite'}")
        engine = Engine.from_settings(local, StubLLM(latency_s))  # type: ignore[arg-type]
        engine.warm()  # as `bot serve` does: models loaded, the rails' caches built, the heap settled
        rows: list[dict[str, Any]] = []
        try:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="turn") as pool:
                for n in levels:
                    console.print(f"bench: {n} conversations in flight on one worker, {seconds:.0f} s …")
                    overheads, turns, elapsed = asyncio.run(_level(engine, pool, n, seconds, think_s))
                    row = {"conversations": n, "turns": turns, "turns_per_s": round(turns / elapsed, 1),
                           "p50_overhead_ms": round(_pct(overheads, 0.5), 1) if overheads else None,
                           "p95_overhead_ms": round(_pct(overheads, 0.95), 1) if overheads else None}
                    rows.append(row)
                    if row["p95_overhead_ms"] is None or row["p95_overhead_ms"] > target_ms:
                        break
        finally:
            engine.close()
    passed = [r for r in rows if r["p95_overhead_ms"] is not None and r["p95_overhead_ms"] <= target_ms]
    best = passed[-1] if passed else {"conversations": 0, "p95_overhead_ms": rows[0]["p95_overhead_ms"]}
    return {"conversations": best["conversations"], "p95_overhead_ms": best["p95_overhead_ms"],
            "target_p95_ms": target_ms, "llm_latency_s": latency_s, "think_s": list(think_s), "threads": threads,
            "database": "postgresql" if local.db_url.startswith("postgres") else "sqlite", "levels": rows}


async def _level(engine: Any, pool: ThreadPoolExecutor, n: int, seconds: float,
                 think_s: tuple[float, float]) -> tuple[list[float], int, float]:
    loop = asyncio.get_running_loop()
    overheads: list[float] = []
    started = loop.time()
    # Customers start mid-cycle (see `_first_message_in`), so the load is steady from the start; the first
    # `think_s[0]` seconds are not measured (threads and connections being opened).
    measure_from, stop_at = started + think_s[0], started + think_s[0] + seconds

    async def customer(i: int) -> None:
        rng = random.Random(i)
        await asyncio.sleep(_first_message_in(rng, think_s))
        while loop.time() < stop_at:
            conversation = await loop.run_in_executor(pool, engine.start, "cust-1" if i % 2 else "cust-2")
            for text in MIX:
                if loop.time() >= stop_at:
                    return
                sent = time.perf_counter()
                result = await loop.run_in_executor(pool, engine.turn, conversation, text)
                if loop.time() >= measure_from:
                    overheads.append((time.perf_counter() - sent - result.llm_s) * 1000)
                await asyncio.sleep(rng.uniform(*think_s))

    await asyncio.gather(*(customer(i) for i in range(n)))
    return overheads, len(overheads), seconds


def _first_message_in(rng: random.Random, think_s: tuple[float, float]) -> float:
    """When a customer already in conversation writes next, seen from a random moment: a point in a cycle drawn
    in proportion to its length (the stationary start of a renewal process). Starting everyone within one think
    time instead makes a surge (~40 % above the steady rate) while the first and second messages overlap, and the
    measurement would be of the surge."""
    low, high = think_s
    while True:
        cycle = rng.uniform(low, high)
        if rng.random() < cycle / high:
            return rng.uniform(0.0, cycle)


# -- several workers -------------------------------------------------------------------------------------------------
def measure_workers(db_url: str | None, console: Console, *, workers: tuple[int, ...] = (1, 2), clients: int = 64,
                    seconds: float = 20.0, latency_s: float = 0.3) -> dict[str, Any]:
    """`workers_throughput`: turns per second through `bot serve --workers N` on PostgreSQL, over loopback HTTP.

    Closed loop: `clients` customers each write their next message as soon as the last reply is in (no think
    time), so the workers are saturated and what they can do shows. Needs `BOT_DB_URL=postgresql://…`: several
    workers on one SQLite file would measure SQLite's single writer, not the bot.
    """
    if not db_url or not db_url.startswith(("postgresql://", "postgres://")):
        return {"skipped": "set BOT_DB_URL=postgresql://… to measure several workers (they share one database)"}
    rows = []
    for n in workers:
        console.print(f"bench: bot serve --workers {n} on PostgreSQL, {clients} customers without pause, "
                      f"{seconds:.0f} s …")
        rows.append(dict(asyncio.run(_serve_and_load(db_url, n, clients, seconds, latency_s)), workers=n))
    base = rows[0]["turns_per_s"] or float("nan")
    for row in rows:
        row["speedup"] = round(row["turns_per_s"] / base, 2) if base == base else None
    return {"clients": clients, "llm_latency_s": latency_s, "seconds": seconds, "runs": rows}


async def _serve_and_load(db_url: str, workers: int, clients: int, seconds: float,
                          latency_s: float) -> dict[str, Any]:
    import os
    import socket
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policies = tempfile.mkdtemp(prefix="bot-bench-policies-")
    env = dict(os.environ, BOT_DB_URL=db_url, BOT_STUB_LATENCY_MS=str(latency_s * 1000), OTEL_SDK_DISABLED="true",
               BOT_POLICY_DIR=_unthrottled(settings_policy_dir(), Path(policies)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--workers", str(workers), "--llm", "stub",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)  # new connections: any worker
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            await _until_up(http, proc, workers)
            turns, failures = 0, 0
            latencies: list[float] = []
            stop_at = time.monotonic() + seconds

            async def customer(i: int) -> None:
                nonlocal turns, failures
                while time.monotonic() < stop_at:
                    started = (await http.post("/api/conversations")).json()
                    auth = {"Authorization": f"Bearer {started['token']}"}
                    for text in MIX:
                        if time.monotonic() >= stop_at:
                            return
                        sent = time.perf_counter()
                        reply = await http.post(f"/api/conversations/{started['conversation_id']}/messages",
                                                json={"text": text}, headers=auth)
                        if reply.status_code == 200:
                            turns += 1
                            latencies.append(time.perf_counter() - sent)
                        else:
                            failures += 1

            began = time.monotonic()
            await asyncio.gather(*(customer(i) for i in range(clients)))
            elapsed = time.monotonic() - began
    finally:
        proc.terminate()
        await proc.wait()
        shutil.rmtree(policies, ignore_errors=True)
    return {"turns": turns, "failures": failures, "turns_per_s": round(turns / elapsed, 1),
            "p50_reply_s": round(_pct(latencies, 0.5), 3) if latencies else None,
            "p95_reply_s": round(_pct(latencies, 0.95), 3) if latencies else None}


def settings_policy_dir() -> Path:
    from bot.config import load_settings

    return load_settings().policy_dir


def _unthrottled(source: Path, target: Path) -> str:
    """The policies with the web's per-client rate limits lifted: every simulated customer comes from 127.0.0.1."""
    import yaml

    shutil.copytree(source, target, dirs_exist_ok=True)
    web = yaml.safe_load((target / "web.yaml").read_text())
    web["rate_limits"].update(requests_per_minute=10**6, new_conversations_per_hour=10**6, messages_per_minute=10**6)
    (target / "web.yaml").write_text(yaml.safe_dump(web))
    return str(target)


async def _until_up(http: Any, proc: Any, workers: int, timeout_s: float = 120.0) -> None:
    """Until every worker answers /healthz (each reports its process id)."""
    import httpx

    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(seen) < workers:
        if proc.returncode is not None:
            raise RuntimeError(f"bot serve exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"bot serve did not start {workers} worker(s) in {timeout_s:.0f} s")
        try:
            seen.add((await http.get("/healthz")).json()["worker"])
        except (httpx.TransportError, KeyError, ValueError):
            await asyncio.sleep(0.3)
