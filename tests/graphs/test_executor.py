"""LangGraph's background work runs on one long-lived, bounded pool (graphs/executor.py), not a pool per run.

This patches a private LangGraph module; if an upgrade moves it, this test fails instead of the load figures quietly
getting worse again (a new pool per run queued every turn behind a process-wide lock under load)."""

from __future__ import annotations

import threading

from langgraph.pregel import _executor

from graphs.executor import WORKERS, shared_executor


def test_turns_use_the_shared_pool_not_a_pool_per_run(engine):
    assert _executor.get_executor_for_config is shared_executor
    conversation = engine.start("cust-1")
    engine.turn(conversation, "hi")
    engine.turn(conversation, "how long do refunds take?")  # the pool has the threads it needs now
    before = {t.ident for t in threading.enumerate()}
    for text in ("where is my order A10002?", "thanks!", "do you ship to Canada?"):
        engine.turn(conversation, text)
    new = [t.name for t in threading.enumerate() if t.ident not in before]
    assert all(name.startswith("graph_") for name in new), new  # no per-run pools ("ThreadPoolExecutor-N_M")
    assert sum(t.name.startswith("graph_") for t in threading.enumerate()) <= WORKERS
