"""Finishing runs that a killed worker left mid-way, while the server runs.

A worker that dies mid-turn (killed, out of memory, a host restart) leaves its run lease behind and its conversation's
last checkpoint part-way through the graph. Every worker sweeps for such leases at start-up and then every
`EVERY_S` seconds (`Engine.recover`): the conversation's run is finished from its checkpoint, so the customer — who
may simply be waiting, long-polling — gets the answer without writing again. Whichever worker takes the lease first
does it; the others skip it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)
EVERY_S = 5.0


async def sweep(engine: Any) -> list[str]:
    try:
        finished = await run_in_threadpool(engine.recover)
    except Exception as exc:  # the database is away: the next sweep tries again
        log.warning("recovery sweep failed: %s", exc)
        return []
    if finished:
        log.warning("finished %d run(s) cut mid-way by a stopped worker", len(finished))
    return finished


@asynccontextmanager
async def recovering(engine: Any) -> AsyncIterator[None]:
    """The app's lifespan: sweep now, then keep sweeping until the server stops."""

    async def loop() -> None:
        while True:
            await sweep(engine)
            await asyncio.sleep(EVERY_S)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
