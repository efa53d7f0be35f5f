"""`bot feedback export`: agents' flags become eval cases (CONTRACTS §4), so every real mistake is a regression test.

One case per flagged conversation: its stored transcript (already redacted: customer text is stored with placeholders
for personal data), the customer's tier and language, and `expect` filled only from what agents corrected — every
other expectation stays null (not graded), because nobody checked it:

* `wrong_intent` → `expect.intents[turn-1]` = the right intent;
* `misrouted` → `expect.handoff`, `handoff_reason` and `handoff_by_turn` (the turn the agent named, or the turn the
  bot handed off at when only the reason was wrong);
* `bad_answer` → `expect.must_not_contain` gets the phrases the agent quoted as wrong; the corrected reply goes to
  `source.reference_replies` (kept for people and for the LLM prompt work; not graded: free text is not comparable);
* `rail_false_positive` / `rail_false_negative` → `expect.blocked_turns` = the turns the bot blocked, corrected.

When agents disagree on the same turn and kind, the latest flag wins. Each case names its flags and the
conversation in `source` (an optional key `bot eval` accepts and ignores), so a failing case leads back to the agent's
note. The case id is `fb-<conversation id>`: exporting again gives the same ids, a file of exports stays dedupable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from bot.feedback import Flag
from bot.persistence import Database


def export_cases(db: Database, flags: Iterable[Flag]) -> list[dict[str, Any]]:
    """The eval cases for `flags` (any order), one per conversation, in the order the conversations were flagged."""
    by_conversation: dict[str, list[Flag]] = {}
    for flag in sorted(flags, key=lambda f: (f.created_at, f.id)):
        by_conversation.setdefault(flag.conversation_id, []).append(flag)
    cases = []
    for conversation_id, flagged in by_conversation.items():
        case = _case(db, conversation_id, flagged)
        if case is not None:
            cases.append(case)
    return cases


def write_jsonl(cases: list[dict[str, Any]], path: Path) -> None:
    """Write the cases atomically (a half-written regression file would fail QA's next run for the wrong reason)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    tmp.replace(path)


def _case(db: Database, conversation_id: str, flags: list[Flag]) -> dict[str, Any] | None:
    stored = db.conversation(conversation_id)
    if stored is None:  # deleted since it was flagged
        return None
    transcript = db.transcript(conversation_id)
    turns = [{"role": t["role"], "text": t["text"]} for t in transcript if t["role"] in ("customer", "bot", "agent")]
    n_customer = sum(1 for t in turns if t["role"] == "customer")
    if not n_customer:
        return None
    latest: dict[tuple[str, int | None], Flag] = {}
    for flag in flags:  # oldest first: a later flag on the same turn and kind replaces an earlier one
        latest[(flag.kind, flag.turn)] = flag
    expect: dict[str, Any] = {}
    references = []
    intents: list[str | None] = [None] * n_customer
    blocked = _blocked_turns(transcript)
    blocked_graded = False
    for (kind, turn), flag in latest.items():
        correction = flag.correction
        if kind == "wrong_intent" and turn:
            intents[turn - 1] = correction["intent"]
        elif kind == "misrouted":
            expect["handoff"] = correction["handoff"]
            expect["handoff_reason"] = correction.get("handoff_reason")
            expect["handoff_by_turn"] = correction.get("handoff_by_turn")
        elif kind == "bad_answer" and turn:
            expect.setdefault("must_not_contain", [])
            expect["must_not_contain"] += [p for p in correction.get("must_not_contain", [])
                                           if p not in expect["must_not_contain"]]
            references.append({"turn": turn, "text": correction["reply"], "agent": flag.agent})
        elif kind in ("rail_false_positive", "rail_false_negative") and turn:
            blocked_graded = True
            (blocked.add if correction["blocked"] else blocked.discard)(turn)
    if any(intents):
        expect["intents"] = intents
    if blocked_graded:
        expect["blocked_turns"] = sorted(blocked)
    customer = stored["customer"]
    case: dict[str, Any] = {
        "id": f"fb-{conversation_id}",
        "channel": stored["channel"],
        "customer": {k: customer.get(k) for k in ("tier", "language") if customer.get(k)},
        "turns": turns,
        "expect": expect,
        "source": {
            "conversation_id": conversation_id,
            "flags": [{"id": f.id, "kind": f.kind, "turn": f.turn, "agent": f.agent, "note": f.note}
                      for f in latest.values()],
            "mode": stored.get("operating_mode"),
        },
    }
    if customer.get("known") and customer.get("id"):
        case["customer"]["id"] = customer["id"]  # the store's id (not personal data): the replay finds their orders
    if references:
        case["source"]["reference_replies"] = references
    return case


def _blocked_turns(transcript: list[dict[str, Any]]) -> set[int]:
    """Customer turn numbers (1-based, counted like the eval's) whose bot turn was blocked."""
    numbers: dict[Any, int] = {}
    for t in transcript:
        if t["role"] == "customer":
            numbers.setdefault(t.get("turn"), len(numbers) + 1)
    return {numbers[t.get("turn")] for t in transcript if t["role"] == "bot" and t.get("blocked")
            and t.get("turn") in numbers}
