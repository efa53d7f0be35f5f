"""Measure the NLU: ``python -m bot.nlu.measure [--folds 5] [--json OUT.json]``.

Re-run it after editing ``data/intents.yaml`` or the classifier and update bot/nlu/README.md with the numbers.
Prints (and optionally writes as JSON):

* k-fold cross-validated accuracy on intents.yaml (each fold trains on the other folds + CLINC train), per-intent
  accuracy, the false out-of-scope rate on store examples and the out-of-scope recall on our own negatives;
* out-of-scope recall on CLINC val ``oos_val`` and on the CLINC val intents that are neither ours nor excluded,
  and accuracy on the CLINC val intents mapped to ours (val is only *measured*, never trained on);
* accuracy on the two message sets in tests/nlu/data when present;
* a threshold table for the top probability (uncertain share / accuracy above / out-of-scope recall when "below
  the threshold" also counts as out of scope);
* training time, cached-load time, and single-message latency of predict / sentiment / entities / language.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import PROJECT_ROOT
from bot.nlu import clinc
from bot.nlu import intents as I

OOS = I.OUT_OF_SCOPE


def _percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"p50": round(ms[len(ms) // 2], 4), "p95": round(ms[int(len(ms) * 0.95)], 4)}


def _message_sets() -> dict[str, list[tuple[str, str]]]:
    import yaml

    out = {}
    for name in ("dev_messages", "holdout_messages"):
        path = PROJECT_ROOT / "tests" / "nlu" / "data" / f"{name}.yaml"
        if path.is_file():
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            out[name] = [(line.strip(), k) for k, v in doc.items() for line in str(v).splitlines() if line.strip()]
    return out


def measure(folds: int = 5) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold

    report: dict[str, Any] = {}
    mine = I.load_examples()
    try:
        extra = I.clinc_training_examples()
    except FileNotFoundError:
        extra = []
    report["training_examples"] = {"intents_yaml": len(mine), "clinc": len(extra),
                                   "per_intent": dict(Counter(y for _, y in mine + extra))}

    # -- cross-validation on our own examples (probabilities with the full model's temperature, below)
    texts = [t for t, _ in mine]
    labels = [y for _, y in mine]
    oof: list[tuple[str, str, np.ndarray, list[str]]] = []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for tr, te in skf.split(texts, labels):
        m = I.IntentClassifier.train([mine[i] for i in tr] + extra, {"calibration_folds": 0})
        for i in te:
            oof.append((texts[i], labels[i], m.logits(I.normalize(texts[i])), m.classes))

    t0 = time.perf_counter()
    full = I.IntentClassifier.train(mine + extra)
    report["train_seconds"] = round(time.perf_counter() - t0, 2)
    report["temperature"] = round(full.temperature, 4)

    def probs(z: np.ndarray) -> np.ndarray:
        return I._softmax(z / full.temperature)

    cv = [(t, g, classes[int(np.argmax(z))], float(probs(z).max())) for t, g, z, classes in oof]
    store = [r for r in cv if r[1] != OOS]
    per_intent = {}
    for intent in sorted(set(labels)):
        rows = [r for r in cv if r[1] == intent]
        per_intent[intent] = round(sum(r[1] == r[2] for r in rows) / len(rows), 3)
    report["cv"] = {
        "folds": folds,
        "accuracy": round(sum(r[1] == r[2] for r in cv) / len(cv), 4),
        "per_intent": per_intent,
        "false_oos_rate_on_store": round(sum(r[2] == OOS for r in store) / len(store), 4),
        "own_negatives_oos_recall": per_intent.get(OOS),
        "confusions": [
            f"{g} -> {p}: {n}" for (g, p), n in Counter((r[1], r[2]) for r in cv if r[1] != r[2]).most_common(10)
        ],
    }

    # -- CLINC val (measured only)
    clinc_rows: dict[str, list[tuple[str, str]]] = {}
    if clinc.available():
        val = clinc.load_clinc("val")
        clinc_rows = {
            "oos_val": clinc.load_clinc("oos_val"),
            "val_not_ours": [(t, y) for t, y in val if y == OOS],
            "val_mapped": [(t, y) for t, y in val if y != OOS],
        }
    report["clinc_val"] = {}
    preds: dict[str, list[tuple[str, str, str, float]]] = {}
    for name, rows in list(clinc_rows.items()) + list(_message_sets().items()):
        preds[name] = [(t, g) + full.top(t) for t, g in rows]
        acc = sum(p[1] == p[2] for p in preds[name]) / len(rows)
        if name in clinc_rows:
            metric = "accuracy" if name == "val_mapped" else "oos_recall"
            report["clinc_val"][name] = {"n": len(rows), metric: round(acc, 4)}
        else:
            st = [p for p in preds[name] if p[1] != OOS]
            report[name] = {"n": len(rows), "accuracy": round(acc, 4),
                            "false_oos_rate_on_store": round(sum(p[2] == OOS for p in st) / max(1, len(st)), 4)}

    # -- thresholds on the top probability
    message_rows = [p for k, v in preds.items() if k in ("dev_messages", "holdout_messages") for p in v]
    store_rows = store + [p for p in message_rows if p[1] != OOS]
    oos_rows = [p for k in ("oos_val", "val_not_ours") for p in preds.get(k, [])]
    table = []
    for th in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7):
        above = [r for r in store_rows if r[3] >= th]
        table.append({
            "threshold": th,
            "store_below": round(sum(r[3] < th for r in store_rows) / len(store_rows), 4),
            "store_accuracy_above": round(sum(r[1] == r[2] for r in above) / max(1, len(above)), 4),
            "store_correct_and_above": round(sum(r[1] == r[2] and r[3] >= th for r in store_rows) / len(store_rows), 4),
            "oos_recall_if_below_counts_as_oos": (round(sum(r[2] == OOS or r[3] < th for r in oos_rows)
                                                        / len(oos_rows), 4) if oos_rows else None),
        })
    report["thresholds"] = table

    # -- speed
    with tempfile.TemporaryDirectory() as tmp:
        I.IntentClassifier.load_or_train(Path(tmp))
        I._MEMO.clear()
        t0 = time.perf_counter()
        model = I.IntentClassifier.load_or_train(Path(tmp))
        report["cached_load_seconds"] = round(time.perf_counter() - t0, 4)
    from bot.nlu.entities import extract
    from bot.nlu.language import detect_language
    from bot.nlu.language import warm as warm_language
    from bot.nlu.sentiment import sentiment

    warm_language()
    sentiment("warm")
    sample = [t for t, _ in mine[::7]]
    timings: dict[str, list[float]] = {"predict": [], "sentiment": [], "entities": [], "language": [], "total": []}
    for text in sample:
        t0 = time.perf_counter()
        model.predict(text)
        t1 = time.perf_counter()
        sentiment(text)
        t2 = time.perf_counter()
        extract(text)
        t3 = time.perf_counter()
        detect_language(text)
        t4 = time.perf_counter()
        for k, a, b in (("predict", t0, t1), ("sentiment", t1, t2), ("entities", t2, t3), ("language", t3, t4),
                        ("total", t0, t4)):
            timings[k].append((b - a) * 1000)
    report["latency_ms"] = {k: _percentiles(v) for k, v in timings.items()}
    report["latency_ms"]["n_messages"] = len(sample)
    report["mean_message_chars"] = round(statistics.mean(len(t) for t in sample), 1)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = measure(args.folds)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
