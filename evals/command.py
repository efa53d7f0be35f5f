"""`bot eval`: load, replay or grade, summarise, report, gate. Exit 0, 1 (a threshold missed) or 2 (bad input)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.config import Settings
from evals import dataset, metrics


@dataclass
class EvalOptions:
    files: list[Path]
    json_out: Path | None = None
    report: Path | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    grade_recorded: bool = False
    workers: int = 2
    limit: int | None = None
    sample: float | None = None  # keep this share of the conversations, chosen by a stable hash of their ids
    llm: str = "default"  # default | stub
    from_db: bool = False
    since_hours: float | None = None


class EvalInputError(ValueError):
    """Bad input: the message names the file, line and reason (exit 2)."""


def sample(conversations: list[dataset.Conversation], fraction: float) -> list[dataset.Conversation]:
    """A stable share of the conversations: the same ids are kept on every run and machine, whatever the order or
    the other files (SHA-256 of the id, like a pilot cohort), so a sampled gate is reproducible."""
    def point(conversation_id: str) -> float:
        return int(hashlib.sha256(conversation_id.encode()).hexdigest()[:12], 16) / 16**12

    return [c for c in conversations if point(c.id) < fraction]


def load_all(files: list[Path], limit: int | None = None) -> list[dataset.Conversation]:
    conversations: list[dataset.Conversation] = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            loaded = dataset.load(path)
        except dataset.DatasetError as exc:
            raise EvalInputError(str(exc)) from None
        for conv in loaded:
            if conv.id in seen:
                raise EvalInputError(f"{path}:{conv.line}: conversation id {conv.id!r} also in {seen[conv.id]}")
            seen[conv.id] = path
        conversations += loaded
    return conversations[:limit] if limit else conversations


def _grade_view(conversations: list[dataset.Conversation]) -> list[dataset.Conversation]:
    """Grade mode cannot know handoffs, intents or blocks of a recording: those expectations are not graded."""
    return [
        dataclasses.replace(c, expect=dataclasses.replace(c.expect, intents=None, handoff=None, handoff_by_turn=None,
                                                          handoff_reason=None, blocked_turns=None))
        for c in conversations
    ]


def run_eval(options: EvalOptions, settings: Settings, console: Console, connect_llm) -> tuple[dict[str, Any], int]:  # type: ignore[no-untyped-def]
    """The summary and the exit status."""
    if options.from_db:
        return _finish(options, _from_db(options, settings), conversations=None, console=console)
    conversations = load_all(options.files, options.limit)
    loaded = len(conversations)
    if options.sample is not None:
        conversations = sample(conversations, options.sample)
        if not conversations:
            raise EvalInputError(f"--sample {options.sample} keeps none of the {loaded} conversations")
    # The engine's imports (LangGraph, the rails) come after the input is known to be good: a bad file fails at once.
    from langgraph.checkpoint.memory import InMemorySaver

    from evals import runner
    from evals.isolation import IsolatedStores

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bot-eval-") as tmp:
        eval_settings = dataclasses.replace(settings, db_url=f"sqlite:///{Path(tmp) / 'eval.sqlite'}")
        from bot.engine import NONE, Engine

        if options.grade_recorded:
            from bot.engine import guarded_checks
            from bot.policy import load_policies

            graded = _grade_view(conversations)
            _, output_checks = guarded_checks(load_policies(settings.policy_dir), settings.rails,
                                              settings.data_dir / "rails")
            with _progress(console, len(conversations), "grading") as advance:
                results = runner.grade_recorded(output_checks, graded, on_result=advance)
            summary = metrics.summarize(graded, results)
            summary["containment_rate"] = None
            llm = None
        elif options.llm == "stub" and options.workers > 1:
            # The stub makes the graph CPU-bound: replay on processes, one engine each, to use every core.
            timing: dict[str, float] = {}
            with _progress(console, len(conversations), "replaying") as advance:
                results = runner.replay_processes(eval_settings, conversations, options.workers, on_result=advance,
                                                  timing=timing)
            replay_s = timing["replay_s"]
            summary = metrics.summarize(conversations, results)
            llm = None
        else:
            if options.llm == "stub":
                from bot.llm.stub import StubLLM

                llm = StubLLM()
            else:
                llm = connect_llm(settings, parallel=options.workers)  # one decoding slot per replay thread
            # summarizer=None: the agent's handoff notes are not graded here, and on the embedded model they would
            # add two LLM calls to every handoff of the replay
            engine = Engine.from_settings(eval_settings, llm, store=IsolatedStores(), checkpointer=InMemorySaver(),
                                          summarizer=None)
            engine.safe_points = NONE  # a replay is re-run, never recovered: in-memory checkpoints, one per run
            try:
                engine.warm()
                replay_started = time.perf_counter()
                with _progress(console, len(conversations), "replaying") as advance:
                    results = runner.replay(engine, conversations, workers=options.workers, on_result=advance)
                replay_s = time.perf_counter() - replay_started
            finally:
                engine.close()
            summary = metrics.summarize(conversations, results)
    elapsed = time.perf_counter() - started
    if options.grade_recorded:
        replay_s = elapsed
    summary["mode"] = "grade" if options.grade_recorded else "replay"
    summary["files"] = [str(p) for p in options.files]
    if options.sample is not None:
        summary["sample"] = {"fraction": options.sample, "kept": len(conversations), "of": loaded}
    summary["llm"] = "stub" if options.llm == "stub" else (None if options.grade_recorded else getattr(llm, "name", None))
    summary["elapsed_s"] = round(elapsed, 2)
    summary["turns_per_s"] = round(summary["turns"] / replay_s, 2) if replay_s > 0 else None  # start-up excluded
    return _finish(options, summary, conversations, console)


def _from_db(options: EvalOptions, settings: Settings) -> dict[str, Any]:
    from bot.persistence import Database
    from evals.monitor import load_from_db

    started = time.perf_counter()
    db = Database.from_settings(settings)
    try:
        conversations, results = load_from_db(db, options.since_hours)
    finally:
        db.close()
    if options.limit:
        conversations, results = conversations[: options.limit], results[: options.limit]
    summary = metrics.summarize(conversations, results)
    summary.update(mode="monitor", files=[settings.db_url], llm=None, elapsed_s=round(time.perf_counter() - started, 2),
                   turns_per_s=None, since_hours=options.since_hours)
    summary["_conversations"] = conversations
    return summary


def _finish(options: EvalOptions, summary: dict[str, Any], conversations, console: Console):  # type: ignore[no-untyped-def]
    conversations = summary.pop("_conversations", conversations)
    missed = metrics.check_thresholds(summary, options.thresholds)
    summary["thresholds"] = {"required": options.thresholds, "missed": missed}

    if options.json_out:
        options.json_out.parent.mkdir(parents=True, exist_ok=True)
        options.json_out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if options.report:
        from evals.report import write_report

        write_report(summary, conversations, options.report)
    _print_summary(console, summary)
    for line in missed:
        console.print(f"[bold red]threshold missed:[/] {line}")
    return summary, 1 if missed else 0


class _progress:
    def __init__(self, console: Console, total: int, label: str) -> None:
        self.bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console, transient=True)
        self.total = total

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.bar.__enter__()
        task = self.bar.add_task("eval", total=self.total)
        return lambda _result: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)


def _fmt(value: Any) -> str:
    return "null" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _print_summary(console: Console, s: dict[str, Any]) -> None:
    table = Table(title=f"bot eval ({s['mode']}): {s['conversations']} conversations, {s['turns']} customer turns")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("containment_rate", s["containment_rate"]),
        ("escalation precision / recall / f1", " / ".join(_fmt(s["escalation"][k]) for k in ("precision", "recall", "f1"))),
        ("escalation timeliness", s["escalation"]["timeliness"]),
        ("handoff reason accuracy", s["escalation"]["reason_accuracy"]),
        ("intent_accuracy", s["intent_accuracy"]),
        ("block_rate / false_block_rate", f"{_fmt(s['block_rate'])} / {_fmt(s['false_block_rate'])}"),
        ("must_not_contain_violations", s["must_not_contain_violations"]),
        ("guardrail_violations (fixed or refused)", s.get("guardrail_violations")),
        ("pii_leaks", s["pii_leaks"]),
        ("latency p50 / p95 ms", f"{_fmt(s['latency_ms']['p50'])} / {_fmt(s['latency_ms']['p95'])}"),
        ("errors", s["errors"]),
        ("turns/s", s["turns_per_s"]),
    ]
    for name, value in rows:
        table.add_row(name, value if isinstance(value, str) else _fmt(value))
    console.print(table)
    failing = [c for c in s["per_conversation"] if c["failures"]]
    if failing:
        console.print(f"{len(failing)} conversation(s) with failures; first few:")
        for c in failing[:8]:
            console.print(f"  [yellow]{c['id']}[/]: " + "; ".join(c["failures"][:3]), highlight=False)
