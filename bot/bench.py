"""`bot bench`: the performance figures of CONTRACTS §5 that this version can measure.

- `turn_overhead_ms`: a whole turn through the real engine (graph, NLU, checks, SQLite checkpointer, demo store)
  minus the time spent inside LLM calls, over a mix of typical messages.
- `turn_vs_bare_llm`: a whole turn divided by one direct LLM call with the same prompt and model. Measured fairly:
  the prompt of a turn is captured, then a bare call with it and a second identical turn run in the same cache state.
- `ttft_warm_s`: from the customer's message to the LLM's first token, on warm turns (the prompt cache holds the
  system prompt and the conversation so far), over the turns the LLM writes. `ttft_warm_by_reply_s` splits it by
  kind of reply; `first_text_by_reply_s` is what the customer perceives: the first text that passed the
  sentence-level output checks (a tool's result needs no LLM and is said at once).
- `rails_ms`: the deterministic rails on one message: the input checks (limits, PII redaction, injection, dangerous
  requests, abuse) on each customer message of evals/core.jsonl and evals/redteam.jsonl, and the output checks
  (grounding, PII, leakage, commitments, competitors, tone, length) on each bot reply of the bench. `rails_ms_by_side`
  splits the two; `rails_ms_per_turn` is both on one turn of the mix (customer message and its reply).
- `eval_turns_per_s`: `bot eval` replay of evals/core.jsonl (three times over) with the stub LLM, one process per
  core, start-up excluded.
- `concurrency` and `workers_throughput`: conversations in flight on one worker, and turns per second through `bot
  serve` with one and two workers on PostgreSQL (bot/bench_load.py).
- `stt_rtf`, `voice_first_audio_s` (and the detail keys `voice_*`): a scripted phone call through the voice
  session, see voice/bench.py.
Figures this version cannot measure yet are `null`.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bot.checks import Grounding
from bot.config import Settings
from bot.engine import Engine
from bot.llm import LLMClient

EVAL_SET = Path(__file__).resolve().parent.parent / "evals" / "core.jsonl"

MIX = [
    ("cust-1", ["hi", "where is my order A10002?", "how long do refunds take?", "thanks!"]),
    ("cust-2", ["hello", "do you ship to Canada?", "is order A10005 out for delivery?", "bye"]),
]


class RecordingLLM:
    """Delegates to a client and remembers the last streamed prompt (to replay it as a bare call)."""

    def __init__(self, inner: LLMClient) -> None:
        self._inner = inner
        self.last_stream: tuple[list[dict[str, str]], dict[str, Any]] | None = None

    def stream(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.last_stream = (list(messages), kwargs)
        return self._inner.stream(messages, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _machine(llm: LLMClient) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}; LLM: {llm.name}"


def run_bench(settings: Settings, llm: LLMClient, turns: int = 30, console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    recorder = RecordingLLM(llm)
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as tmp:
        bench_settings = dataclasses.replace(
            settings, db_url=f"sqlite:///{Path(tmp) / 'bench.sqlite'}", store_db=Path(tmp) / "store.sqlite"
        )
        engine = Engine.from_settings(bench_settings, recorder)  # type: ignore[arg-type]
        engine.warm()
        try:
            results = _measure(engine, recorder, llm, turns, console)
            results.update(_voice(engine, console))
        finally:
            engine.close()
    rate = measure_eval_throughput(settings, console)
    results["eval_turns_per_s"] = None if rate != rate else rate  # NaN: no eval set shipped
    results.update(measure_load(settings, console))
    return results


def measure_load(settings: Settings, console: Console) -> dict[str, Any]:
    """`concurrency` (one worker, stub LLM with 300 ms latency) and `workers_throughput` (bot/bench_load.py)."""
    from bot.bench_load import measure_concurrency, measure_workers

    return {"concurrency": measure_concurrency(settings, console),
            "workers_throughput": measure_workers(settings.db_url, console)}


def _voice(engine: Engine, console: Console) -> dict[str, Any]:
    """`stt_rtf` and `voice_first_audio_s` over a scripted call (voice/bench.py); null with the reason if voice is
    unavailable on this machine (no espeak-ng, say)."""
    console.print("bench: a scripted phone call (speech recognition, first audio) …")
    try:
        from voice.bench import measure_voice

        return measure_voice(engine)
    except Exception as exc:  # the text figures stay valid without a voice stack
        console.print(f"[yellow]bench: voice skipped:[/] {exc}")
        return {"stt_rtf": None, "voice_first_audio_s": None, "voice_unavailable": str(exc)}


def measure_eval_throughput(settings: Settings, console: Console, processes: int | None = None) -> float:
    """`bot eval` replay speed with the stub LLM (turns per second, start-up excluded), on the shipped core set."""
    from evals import dataset, runner

    path = EVAL_SET if EVAL_SET.exists() else None
    if path is None:
        return float("nan")
    # the set three times over (fresh ids): a replay of a few seconds is dominated by its first and last chunks
    base = dataset.load(path)
    conversations = [dataclasses.replace(c, id=f"{c.id}~{n}") for n in range(3) for c in base]
    workers = processes or max(1, os.cpu_count() or 1)
    console.print(f"bench: eval replay with the stub LLM on {workers} processes ({len(conversations)} conversations) …")
    with tempfile.TemporaryDirectory(prefix="bot-bench-eval-") as tmp:
        eval_settings = dataclasses.replace(settings, db_url=f"sqlite:///{Path(tmp) / 'eval.sqlite'}")
        timing: dict[str, float] = {}
        runner.replay_processes(eval_settings, conversations, workers, timing=timing)
        elapsed = timing["replay_s"]
    return round(sum(len(c.customer_texts) for c in conversations) / elapsed, 1)


def _measure(engine: Engine, recorder: RecordingLLM, llm: LLMClient, turns: int, console: Console) -> dict[str, Any]:
    # Warm-up: one full conversation (loads the prompt cache, the classifier, the store).
    warm = engine.start("cust-1")
    for text in MIX[0][1]:
        engine.turn(warm, text)

    overhead_ms: list[float] = []
    first_text: dict[str, list[float]] = {"tool": [], "small_talk": [], "policy": []}
    llm_first: dict[str, list[float]] = {"small_talk": [], "policy": []}
    rails: list[float] = []
    replies: list[tuple[str, str]] = []
    done = 0
    console.print(f"bench: {turns} turns for overhead and time to first token …")
    while done < turns:
        for customer, script in MIX:
            conversation = engine.start(customer)
            for text in script:
                if done >= turns:
                    break
                result = engine.turn(conversation, text)
                overhead_ms.append((result.total_s - result.llm_s) * 1000)
                kind = _kind(result)
                if result.first_text_s is not None:
                    first_text[kind].append(result.first_text_s)
                if result.llm_first_token_s is not None and kind in llm_first:
                    llm_first[kind].append(result.llm_first_token_s)
                rails.append(_rails_ms(engine, text, result.reply))
                replies.append((text, result.reply))
                done += 1

    ratios: list[float] = []
    console.print("bench: whole turn vs bare LLM call …")
    for text in ("how long do refunds take?", "do you ship to Canada?", "hello"):  # turns the LLM writes
        for _ in range(max(1, turns // 10)):
            first = engine.start("cust-1")
            recorder.last_stream = None
            engine.turn(first, text)  # captures the prompt and leaves it in the cache
            if recorder.last_stream is None:
                continue
            messages, kwargs = recorder.last_stream
            started = time.perf_counter()
            "".join(llm.stream(messages, **kwargs))
            bare = time.perf_counter() - started
            second = engine.start("cust-1")
            result = engine.turn(second, text)
            if bare > 0:
                ratios.append(result.total_s / bare)

    all_llm_first = [v for values in llm_first.values() for v in values]
    return {
        "turn_overhead_ms": {"p50": round(_pct(overhead_ms, 0.5), 2), "p95": round(_pct(overhead_ms, 0.95), 2)},
        **_rails_per_message(engine, replies),
        "rails_ms_per_turn": {"p50": round(_pct(rails, 0.5), 3), "p95": round(_pct(rails, 0.95), 3)},
        "turn_vs_bare_llm": round(statistics.median(ratios), 3) if ratios else None,
        "ttft_warm_s": round(_pct(all_llm_first, 0.5), 3) if all_llm_first else None,
        "ttft_warm_by_reply_s": {k: _p50(v) for k, v in llm_first.items()},
        "first_text_by_reply_s": {k: _p50(v) for k, v in first_text.items()},
        "eval_turns_per_s": None,
        "concurrency": {"conversations": None, "p95_overhead_ms": None},
        "stt_rtf": None,
        "voice_first_audio_s": None,
        "turns_measured": len(overhead_ms),
        "machine": _machine(llm),
    }


def _p50(values: list[float]) -> float | None:
    return round(_pct(values, 0.5), 3) if values else None


def _kind(result) -> str:  # type: ignore[no-untyped-def]
    """tool: answered from a tool result (no LLM); small_talk / policy: written by the LLM."""
    if not result.llm_calls or result.source == "facts":
        return "tool"
    return "small_talk" if result.intent in ("greeting", "thanks", "goodbye") else "policy"


def _customer_messages() -> list[str]:
    from evals.dataset import load

    texts: list[str] = []
    for name in ("core.jsonl", "redteam.jsonl"):
        for conversation in load(EVAL_SET.parent / name):
            texts += conversation.customer_texts
    return texts


def _rails_per_message(engine: Engine, replies: list[tuple[str, str]]) -> dict[str, Any]:
    """Input checks on every customer message of the eval sets, output checks on every reply of the bench."""
    deps = engine.deps
    inputs: list[float] = []
    for text in _customer_messages():
        started = time.perf_counter()
        for check in deps.input_checks:
            verdict = check.check(text)
            if verdict.refuse or verdict.blocked:
                break
            text = verdict.text
        inputs.append((time.perf_counter() - started) * 1000)
    outputs: list[float] = []
    for text, reply in replies:
        grounding = Grounding((reply, text), customer=text)
        started = time.perf_counter()
        for check in deps.output_checks:
            check.check(reply, grounding)
        outputs.append((time.perf_counter() - started) * 1000)
    both = inputs + outputs
    return {
        "rails_ms": {"p50": round(_pct(both, 0.5), 3), "p95": round(_pct(both, 0.95), 3)},
        "rails_ms_by_side": {
            "input": {"p50": round(_pct(inputs, 0.5), 3), "p95": round(_pct(inputs, 0.95), 3), "messages": len(inputs)},
            "output": {"p50": round(_pct(outputs, 0.5), 3), "p95": round(_pct(outputs, 0.95), 3),
                       "messages": len(outputs)},
        },
    }


def _rails_ms(engine: Engine, text: str, reply: str) -> float:
    deps = engine.deps
    started = time.perf_counter()
    for check in deps.input_checks:
        check.check(text)
    grounding = Grounding((reply, text))
    for check in deps.output_checks:
        check.check(reply, grounding)
    return (time.perf_counter() - started) * 1000
