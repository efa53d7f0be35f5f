"""Replay recorded conversations through the real engine, or grade their recorded bot turns as they are.

Replay (the default) feeds each conversation's customer turns to the graph in order, recorded bot turns ignored;
after a handoff the engine queues later customer turns for the agent instead of answering (they are still
understood, so their intents are graded). Conversations run in parallel on a thread pool: the graph and the stores
are thread-safe and the embedded LLM serves two requests at once. Every replay gets a fresh database, so the same
file with the same model and seed gives the same results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from bot.checks import Grounding
from bot.engine import NONE, Engine
from evals.dataset import Conversation
from evals.isolation import IsolatedStores
from evals.metrics import ConversationResult

Progress = Callable[[ConversationResult], None]


def replay_one(engine: Engine, conversation: Conversation, prefix: str = "eval") -> ConversationResult:
    stores = engine.deps.store
    if isinstance(stores, IsolatedStores):
        with stores.fresh():
            return _replay(engine, conversation, prefix)
    return _replay(engine, conversation, prefix)


def _replay(engine: Engine, conversation: Conversation, prefix: str) -> ConversationResult:
    customer = conversation.customer
    result = ConversationResult(id=conversation.id)
    try:
        conv_id = engine.start(
            customer.get("id"), channel=conversation.channel, conversation_id=f"{prefix}-{conversation.id}",
            tier=customer.get("tier"), language=customer.get("language"), strict=False,
        )
        for turn, text in enumerate(conversation.customer_texts, start=1):
            started = time.perf_counter()
            outcome = engine.turn(conv_id, text)
            result.latencies_ms.append(round((time.perf_counter() - started) * 1000, 2))
            result.intents.append(outcome.intent)
            result.replies.append(outcome.reply)
            if outcome.blocked:
                result.blocked_turns.append(turn)
            if outcome.handoff and not result.handoff:
                result.handoff, result.handoff_turn, result.handoff_reason = True, turn, outcome.handoff_reason
            result.events += [dict(e, turn=turn) for e in outcome.events]
            result.transcript += [
                {"role": "customer", "text": text, "turn": turn},
                {"role": "bot", "text": outcome.reply, "turn": turn, "intent": outcome.intent,
                 "handoff": outcome.handoff, "blocked": outcome.blocked, "ms": result.latencies_ms[-1]},
            ]
    except Exception as exc:  # one broken conversation must not hide the others' results
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def replay(engine: Engine, conversations: list[Conversation], workers: int = 2,
           on_result: Progress | None = None, prefix: str = "eval") -> list[ConversationResult]:
    """Replay every conversation (in parallel), results in the input order."""
    def run(conversation: Conversation) -> ConversationResult:
        result = replay_one(engine, conversation, prefix)
        if on_result:
            on_result(result)
        return result

    if workers <= 1:
        return [run(c) for c in conversations]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval") as pool:
        return list(pool.map(run, conversations))


def grade_recorded(engine_checks: list[Any], conversations: list[Conversation],
                   on_result: Progress | None = None) -> list[ConversationResult]:
    """Grade recorded bot turns as they are: output checks (rails), PII leaks and must_not_contain; no bot call."""
    results = []
    for conversation in conversations:
        result = ConversationResult(id=conversation.id)
        context = Grounding(tuple(conversation.customer_texts))
        for turn, text in conversation.recorded_bot_turns:
            result.replies.append(text)
            for check in engine_checks:
                if getattr(check, "needs_grounding", False):
                    continue  # a recording does not carry the facts the reply was written from
                verdict = check.check(text, context)
                result.events += [dict(e, turn=turn) for e in verdict.events if e.get("action") != "pass"]
        n = 0
        for t in conversation.turns:
            if t["role"] == "customer":
                n += 1
            result.transcript.append({"role": t["role"], "text": t["text"], "turn": n})
        results.append(result)
        if on_result:
            on_result(result)
    return results


# -- process pool (stub LLM): the graph is CPU-bound Python, so threads share one core; processes use them all ----
_worker_engine: Engine | None = None


def _init_worker(settings: Any, stub_latency_s: float) -> None:
    import dataclasses
    import tempfile
    from pathlib import Path

    from bot.llm.stub import StubLLM

    global _worker_engine
    tmp = Path(tempfile.mkdtemp(prefix="bot-eval-worker-"))
    worker_settings = dataclasses.replace(settings, db_url=f"sqlite:///{tmp / 'eval.sqlite'}")
    _worker_engine = Engine.from_settings(worker_settings, StubLLM(stub_latency_s), store=IsolatedStores(),
                                          summarizer=None,
                                          checkpointer=InMemorySaver())
    _worker_engine.safe_points = NONE
    _worker_engine.warm()


def _replay_chunk(conversations: list[Conversation]) -> list[ConversationResult]:
    assert _worker_engine is not None
    return [replay_one(_worker_engine, c) for c in conversations]


def replay_processes(settings: Any, conversations: list[Conversation], processes: int,
                     on_result: Progress | None = None, timing: dict[str, float] | None = None,
                     stub_latency_s: float = 0.0) -> list[ConversationResult]:
    """Replay with the stub LLM on `processes` worker processes (each its own engine); input order kept.

    `timing["replay_s"]` is set to the replay's own duration: from every worker warm to the last result (worker
    start-up and shutdown, a few seconds of loading models, are not replay time).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads or an LLM server
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker,
                             initargs=(settings, stub_latency_s)) as pool:
        # start every worker and let each warm up (their initializers) before the clock that callers read starts
        seen: set[int] = set()
        while len(seen) < processes:
            seen.update(pool.map(_pid, range(processes * 2)))
        started = time.perf_counter()
        # chunks amortise the inter-process round trip (~1 ms) over several conversations
        size = max(1, min(8, len(conversations) // (processes * 4) or 1))
        chunks = [list(range(i, min(i + size, len(conversations)))) for i in range(0, len(conversations), size)]
        futures = {pool.submit(_replay_chunk, [conversations[i] for i in chunk]): chunk for chunk in chunks}
        results: list[ConversationResult | None] = [None] * len(conversations)
        for future in as_completed(futures):
            for index, result in zip(futures[future], future.result()):
                results[index] = result
                if on_result:
                    on_result(result)
        if timing is not None:
            timing["replay_s"] = time.perf_counter() - started
    return [r for r in results if r is not None]


def _pid(_: int) -> int:
    import os

    time.sleep(0.05)  # long enough that one worker cannot take every probe while another still starts
    return os.getpid()
