"""Build evals/oos_clinc.jsonl: CLINC150 *validation* utterances as single-turn recorded conversations.

CLINC150 (Larson et al., EMNLP 2019, github.com/clinc/oos-eval, CC BY 3.0) is read from the shared copy
(`bot.nlu.clinc.clinc_path()`, overridable with --clinc or $BOT_CLINC_PATH). Only the `val` and `oos_val` splits are
used: the classifier is trained on `train`/`oos_train`, so validation utterances are held out.

Each utterance becomes one conversation (CONTRACTS §4) whose expected intent is `bot.nlu.clinc.map_intent(...)`:
CLINC intents that map onto ours keep our label (order_status, greeting, goodbye, thank_you -> thanks), excluded
CLINC intents are skipped, everything else is `out_of_scope`. `handoff` is null (not graded): this set measures
understanding, not escalation.

The committed file is a deterministic sample, because the shared data must not be copied wholesale:
  * every `oos_val` utterance (100),
  * every `val` utterance whose CLINC intent maps onto one of ours (80),
  * one `val` utterance from each of --other (default 120) other CLINC intents that map to out_of_scope.
The sample is chosen by SHA-256 ranks of a fixed seed plus the intent / utterance text, so it does not depend on
Python's random module, on the order of the data file, or on the machine.

    .venv/bin/python evals/build_oos.py                 # regenerate evals/oos_clinc.jsonl (the sample)
    .venv/bin/python evals/build_oos.py --check         # exit 1 if the committed sample is not what this builds
    .venv/bin/python evals/build_oos.py --all OUT.jsonl # every usable val + oos_val utterance (~2,720), anywhere
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bot.nlu.clinc import OUT_OF_SCOPE, clinc_path, load_raw, map_intent

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "oos_clinc.jsonl"
SEED = "northwind-oos-2026"
SPLITS = ("val", "oos_val")  # held-out splits only; never train / oos_train
DEFAULT_OTHER = 120


def _rank(*parts: str) -> str:
    return hashlib.sha256("\x1f".join((SEED, *parts)).encode("utf-8")).hexdigest()


def conversation(split: str, index: int, text: str, clinc_intent: str, label: str) -> dict[str, Any]:
    return {
        "id": f"clinc-{split.replace('_', '-')}-{index:04d}-{clinc_intent}",
        "channel": "chat",
        "customer": {"tier": "standard", "language": "en"},
        "turns": [{"role": "customer", "text": text}],
        "expect": {
            "intents": [label],
            "handoff": None,
            "handoff_by_turn": None,
            "handoff_reason": None,
            "blocked_turns": [],
            "must_not_contain": [],
        },
    }


def candidates(path: Path) -> list[tuple[str, int, str, str, str]]:
    """(split, index in split, text, clinc intent, our label) of every usable held-out utterance, in file order."""
    rows = []
    for split in SPLITS:
        for index, (text, clinc_intent) in enumerate(load_raw(split, path)):
            label = map_intent(clinc_intent)
            if label is None:  # excluded CLINC intent (see bot/nlu/clinc.py)
                continue
            rows.append((split, index, text, clinc_intent, label))
    return rows


def sample(rows: list[tuple[str, int, str, str, str]], other: int) -> list[tuple[str, int, str, str, str]]:
    keep = [r for r in rows if r[0] == "oos_val" or r[4] != OUT_OF_SCOPE]
    by_intent: dict[str, list[tuple[str, int, str, str, str]]] = defaultdict(list)
    for r in rows:
        if r[0] == "val" and r[4] == OUT_OF_SCOPE:
            by_intent[r[3]].append(r)
    if other > len(by_intent):
        raise SystemExit(f"--other {other}: only {len(by_intent)} out-of-scope CLINC intents in val")
    chosen = sorted(by_intent, key=lambda intent: _rank("intent", intent))[:other]
    for intent in chosen:
        keep.append(min(by_intent[intent], key=lambda r: _rank("utterance", intent, r[2])))
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(keep, key=lambda r: (order[r[0]], r[1]))


def render(rows: list[tuple[str, int, str, str, str]]) -> str:
    return "".join(json.dumps(conversation(*r), ensure_ascii=False) + "\n" for r in rows)


def validate(path: Path) -> None:
    """Check the written file against CONTRACTS §4 with the project's own reader, when it is importable."""
    try:
        from evals.dataset import load
    except ImportError:
        sys.path.insert(0, str(HERE.parent))
        try:
            from evals.dataset import load
        except ImportError:
            return
    load(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", metavar="OUT", type=Path, help="write every usable val/oos_val utterance to OUT")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"sample destination (default {DEFAULT_OUT})")
    parser.add_argument("--other", type=int, default=DEFAULT_OTHER,
                        help="out-of-scope CLINC intents sampled from val, one utterance each")
    parser.add_argument("--clinc", type=Path, default=None, help="CLINC150 json (default: bot.nlu.clinc.clinc_path())")
    parser.add_argument("--check", action="store_true", help="compare the sample with --out instead of writing it")
    args = parser.parse_args(argv)

    path = args.clinc or clinc_path()
    if not path.is_file():
        print(f"CLINC150 file not found: {path} (set BOT_CLINC_PATH or pass --clinc)", file=sys.stderr)
        return 2
    rows = candidates(path)

    if args.all:
        args.all.parent.mkdir(parents=True, exist_ok=True)
        args.all.write_text(render(rows), encoding="utf-8")
        validate(args.all)
        print(f"{args.all}: {len(rows)} conversations (all usable val + oos_val)")
        return 0

    picked = sample(rows, args.other)
    text = render(picked)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} differs from what build_oos.py produces; run it to regenerate", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(picked)} conversations)")
        return 0
    args.out.write_text(text, encoding="utf-8")
    validate(args.out)
    counts: dict[str, int] = defaultdict(int)
    for r in picked:
        counts[r[4]] += 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{args.out}: {len(picked)} conversations ({summary})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
