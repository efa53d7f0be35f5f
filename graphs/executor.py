"""One thread pool for LangGraph's background work (checkpoint writes), shared by every run of the process.

LangGraph's sync runner makes a new `ThreadPoolExecutor` for each `invoke` and so starts new threads on every turn.
`ThreadPoolExecutor.submit` holds a process-wide lock (`concurrent.futures.thread._global_shutdown_lock`) while it
starts a thread, and under load a new thread waits for the GIL: with a few dozen turns in flight, every turn's
checkpoint writes queued behind that lock and one customer's order lookup took over a second (seen with py-spy under
`bot bench`'s concurrency load). A long-lived pool has idle threads ready, so `submit` never starts one.

The pool is never shut down by a run (LangGraph's executor context waits for its own tasks, then leaves the pool as
it is); its threads are daemons of the process. The graph has no subgraphs or parallel branches that would wait on
the pool from inside it, so a bounded pool cannot deadlock on itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables.config import ContextThreadPoolExecutor

WORKERS = 64
_POOL: ContextThreadPoolExecutor | None = None


@contextmanager
def shared_executor(config: Any = None) -> Iterator[ContextThreadPoolExecutor]:
    global _POOL
    if _POOL is None:
        _POOL = ContextThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="graph")
    yield _POOL


def install() -> None:
    """Make LangGraph's sync runs use the shared pool (idempotent)."""
    from langgraph.pregel import _executor

    _executor.get_executor_for_config = shared_executor  # type: ignore[assignment]
