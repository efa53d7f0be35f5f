"""`bot train`: retrain the local intent classifier with agents' corrections, activate it only if it loses nothing.

The loop the guide asks for ("agents flag misrouted interactions and wrong AI answers, feeding retraining"), with a
safety catch: a model learnt from a handful of production labels can fix those and quietly break something else. So

1. **corrections** come from the flags (:mod:`bot.feedback`): a `wrong_intent` flag labels that customer message with
   the agent's intent; a `misrouted` flag saying a turn should have gone to a person because the customer asked
   (`customer_request`) labels it `human_request`. The texts are the stored, redacted messages. When agents label
   the same text differently the latest flag wins.
2. **the candidate** is trained on everything the shipped model is trained on (intents.yaml + CLINC150) plus the
   corrections, each counting `CORRECTION_WEIGHT` times (one sentence among ~9,700 would barely move the model), with
   shipped examples of the same normalised text as a correction left out (the agent's label wins).
3. **before/after** — the current model (the active retrained one, else the shipped one) and the candidate each
   replay the gate sets (the Makefile's `EVAL_GATE_SETS`, with the stub LLM as the CI decisions gate does: the
   intent, escalation and block decisions do not depend on the LLM's text) and the exported feedback cases.
4. **the decision** — the candidate is activated (:func:`bot.nlu.registry.activate`) only when no gated metric
   (the CI thresholds, :data:`GATE`) is worse than the current model's on the same sets; otherwise it is refused,
   with the metrics that lost. Nothing is activated with `--dry-run`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bot.config import Settings
from bot.feedback import Flag
from bot.nlu import registry
from bot.nlu.intents import CACHE_FILE, IntentClassifier, training_data
from bot.nlu.normalize import normalize
from bot.persistence import Database
from evals import dataset, metrics

ROOT = Path(__file__).resolve().parent.parent
#: The Makefile's EVAL_GATE_SETS and EVAL_GATE (tests/evals/test_train.py checks they agree).
GATE_SETS = (ROOT / "evals" / "core.jsonl", ROOT / "evals" / "escalation.jsonl")
GATE = {"escalation.f1": 0.95, "intent_accuracy": 0.90, "escalation.timeliness": 1.0, "false_block_rate": 0.02,
        "pii_leaks": 0.0}
CORRECTION_WEIGHT = 5.0
EPSILON = 1e-9  # metrics are ratios of small integers: any real difference is far above this


class TrainError(ValueError):
    """Nothing to train on, or bad input (one clear line, exit 2)."""


@dataclass(frozen=True)
class Correction:
    text: str  # the customer's message as stored (redacted)
    intent: str
    flags: tuple[str, ...]
    source: str  # wrong_intent | misrouted


@dataclass
class TrainOptions:
    gate_sets: tuple[Path, ...] = GATE_SETS
    since: float = 0.0
    dry_run: bool = False
    workers: int = 2  # replay processes; 1 = in this process (small sets, tests)
    weight: float = CORRECTION_WEIGHT
    use_clinc: bool = True
    gate: dict[str, float] = field(default_factory=lambda: dict(GATE))


def corrections(flags: list[Flag]) -> list[Correction]:
    """The corrected labels in `flags` (any order), one per normalised text, the latest flag winning."""
    found: dict[str, Correction] = {}
    for flag in sorted(flags, key=lambda f: (f.created_at, f.id)):
        turn = flag.observed.get("turn") or {}
        text = str(turn.get("customer") or "").strip()
        if not text:
            continue
        if flag.kind == "wrong_intent":
            intent, source = flag.correction["intent"], "wrong_intent"
        elif (flag.kind == "misrouted" and flag.correction.get("handoff")
              and flag.correction.get("handoff_reason") == "customer_request"):
            intent, source = "human_request", "misrouted"
        else:
            continue
        key = normalize(text)
        earlier = found.get(key)
        ids = (earlier.flags if earlier and earlier.intent == intent else ()) + (flag.id,)
        found[key] = Correction(text, intent, ids, source)
    return list(found.values())


def train_candidate(fixes: list[Correction], *, weight: float = CORRECTION_WEIGHT, use_clinc: bool = True,
                    yaml_path: Path | None = None, clinc_path: Path | None = None) -> IntentClassifier:
    """The shipped training data plus the corrections (see the module docstring)."""
    corrected = {normalize(c.text) for c in fixes}
    shipped = training_data(yaml_path, clinc_path, use_clinc=use_clinc)
    base = [(t, y) for t, y in shipped if normalize(t) not in corrected]
    examples = base + [(c.text, c.intent) for c in fixes]
    model = IntentClassifier.train(examples, weights=[1.0] * len(base) + [weight] * len(fixes))
    model.meta["corrections"] = len(fixes)
    model.meta["correction_weight"] = weight
    return model


def train(settings: Settings, db: Database, flags: list[Flag], options: TrainOptions,
          progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Train, compare, decide (and activate unless refused or dry). Returns the report (JSON-able)."""
    from bot.nlu import NLU
    from evals.feedback_export import export_cases, write_jsonl

    fixes = corrections(flags)
    if not fixes:
        raise TrainError("no corrected labels to learn from: flag wrong intents first "
                         "(`bot agent flag CONVERSATION wrong_intent --turn N --intent RIGHT`)")
    cache_dir = settings.data_dir / "nlu"
    nlu = NLU(cache_dir)
    current = nlu.classifier
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bot-train-") as tmp:
        current_path = _current_path(nlu, current, Path(tmp))
        progress(f"training on the shipped examples + {len(fixes)} correction(s)")
        candidate = train_candidate(fixes, weight=options.weight, use_clinc=options.use_clinc)
        candidate_path = registry.save_candidate(cache_dir, candidate)
        cases_path = Path(tmp) / "feedback.jsonl"
        write_jsonl(export_cases(db, flags), cases_path)
        gate_set = _load(options.gate_sets)
        feedback_set = dataset.load(cases_path) if cases_path.stat().st_size else []
        feedback_set = [c for c in feedback_set if c.id not in {g.id for g in gate_set}]
        everything = gate_set + feedback_set
        summaries = {}
        for name, path in (("before", current_path), ("after", candidate_path)):
            progress(f"replaying {len(everything)} conversations with the {name} model")
            results = _replay(settings, path, everything, options.workers, Path(tmp) / name)
            by_id = {r.id: r for r in results}
            summaries[name] = {
                "gate": metrics.summarize(gate_set, [by_id[c.id] for c in gate_set]),
                "feedback": metrics.summarize(feedback_set, [by_id[c.id] for c in feedback_set])
                if feedback_set else None,
            }
    gate = _compare(summaries["before"]["gate"], summaries["after"]["gate"], options.gate)
    lost = [g for g in gate if g["lost"]]
    fixed = _fixed(fixes, current, candidate)
    decision = "refused" if lost else ("dry_run" if options.dry_run else "activated")
    report = {
        "decision": decision,
        "why": ([f"{g['metric']} {g['before']} -> {g['after']} (worse)" for g in lost] if lost else
                ["no gated metric is worse than the current model's"]),
        "current_model": nlu.model_source,
        "candidate": str(candidate_path),
        "corrections": {"n": len(fixes), "right_before": sum(f["before"] == f["intent"] for f in fixed),
                        "right_after": sum(f["after"] == f["intent"] for f in fixed), "items": fixed},
        "gate": gate,
        "gate_sets": [str(p) for p in options.gate_sets],
        "feedback_cases": {k: _brief(summaries[k]["feedback"]) for k in ("before", "after")},
        "seconds": round(time.perf_counter() - started, 1),
    }
    if decision == "activated":
        from bot.model_sync import publish

        registry.activate(cache_dir, candidate_path, nlu.base_key(), {
            "corrections": len(fixes), "flags": sorted({i for c in fixes for i in c.flags}),
            "gate": {g["metric"]: g["after"] for g in gate}})
        publish(db, cache_dir)  # every host's engines follow it (bot/model_sync.py)
    else:
        candidate_path.unlink(missing_ok=True)
        report["candidate"] = None
    return report


def _load(paths: tuple[Path, ...]) -> list[dataset.Conversation]:
    from evals.command import EvalInputError, load_all

    try:
        return load_all(list(paths))
    except (EvalInputError, FileNotFoundError) as exc:
        raise TrainError(str(exc)) from None


def _current_path(nlu: Any, current: IntentClassifier, tmp: Path) -> Path:
    """A file holding the model the bot runs now (to replay it pinned, like the candidate)."""
    if nlu.model_source.startswith("retrained "):
        return nlu.cache_dir / nlu.model_source.removeprefix("retrained ")
    shipped = nlu.cache_dir / CACHE_FILE
    if shipped.is_file():
        return shipped
    current.save(tmp / "current.npz")  # an unwritable cache dir: the shipped model lives only in memory
    return tmp / "current.npz"


def _replay(settings: Settings, model: Path, conversations: list[dataset.Conversation], workers: int,
            tmp: Path) -> list[metrics.ConversationResult]:
    """Replay with the stub LLM and the intent model pinned to `model` (the decisions gate of `make test`)."""
    from evals import runner

    tmp.mkdir(parents=True, exist_ok=True)
    pinned = dataclasses.replace(settings, intent_model=model, db_url=f"sqlite:///{tmp / 'eval.sqlite'}")
    if workers > 1:
        return runner.replay_processes(pinned, conversations, workers)
    from langgraph.checkpoint.memory import InMemorySaver

    from bot.engine import NONE, Engine
    from bot.llm.stub import StubLLM
    from evals.isolation import IsolatedStores

    engine = Engine.from_settings(pinned, StubLLM(), store=IsolatedStores(), checkpointer=InMemorySaver(),
                                  summarizer=None)
    engine.safe_points = NONE
    try:
        return runner.replay(engine, conversations, workers=1)
    finally:
        engine.close()


def _compare(before: dict[str, Any], after: dict[str, Any], gate: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for name, threshold in gate.items():
        b, a = metrics.metric_value(before, name), metrics.metric_value(after, name)
        ceiling = name in metrics.CEILINGS
        if a is None or b is None:
            lost = a is None and b is not None
        else:
            lost = a > b + EPSILON if ceiling else a < b - EPSILON
        passes = a is not None and (a <= threshold if ceiling else a >= threshold)
        rows.append({"metric": name, "before": b, "after": a, "threshold": threshold,
                     "better": "lower" if ceiling else "higher", "lost": lost, "passes_threshold": passes})
    return rows


def _fixed(fixes: list[Correction], current: IntentClassifier, candidate: IntentClassifier) -> list[dict[str, Any]]:
    from bot.nlu.intents import decide
    from bot.rails.placeholders import sample_view

    def read(model: IntentClassifier, text: str) -> str:
        return decide(model.predict(sample_view(text)))[0]

    return [{"text": c.text, "intent": c.intent, "before": read(current, c.text), "after": read(candidate, c.text),
             "flags": list(c.flags)} for c in fixes]


def _brief(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {"conversations": summary["conversations"], "intent_accuracy": summary["intent_accuracy"],
            "escalation_f1": summary["escalation"]["f1"], "failed": sum(1 for c in summary["per_conversation"]
                                                                       if c["failures"])}
