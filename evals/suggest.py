"""`bot feedback suggest`: what the flags say about the rules, for a person to accept (nothing changes by itself).

Flags that blame a rule rather than the classifier are grouped per rule; where the rule has a threshold, the
suggestion is the nearest value that would have avoided the flagged mistakes, with its price measured on the stored
conversations (those active from 30 days before the first flag on): how many handoffs that nobody flagged would also
have changed. A threshold is a trade, and the person accepting it sees both sides ("single_turn_threshold -0.75 ->
-0.86 avoids 4 of 4 flagged handoffs; 1 of 9 other negative_sentiment handoffs would not have happened either").

Rules without a number (phrases, topics, rails) get the flagged messages (stored redacted) so the person can see which
wording fired or was missed. Wrong intents point at `bot train`, which learns them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from bot.feedback import Flag
from bot.persistence import Database

STEP = 0.01  # a suggested threshold sits this far past the flagged values
PERIOD_S = 30 * 86400  # the stored traffic a suggestion is priced on: from 30 days before the first flag


def suggestions(db: Database, flags: list[Flag], policies: Any) -> list[dict[str, Any]]:
    """Suggestions (JSON-able dicts: rule, finding, suggestion, effect, flags, examples), most flagged first."""
    latest: dict[tuple[str, str, int | None], Flag] = {}
    for f in sorted(flags, key=lambda f: (f.created_at, f.id)):
        latest[(f.conversation_id, f.kind, f.turn)] = f
    flagged = list(latest.values())
    since = min((f.created_at for f in flagged), default=0.0) - PERIOD_S
    stored = {c["id"]: c for c in db.conversations_since(max(0.0, since))} if flagged else {}
    for f in flagged:  # a conversation flagged long after it ended is still read
        if f.conversation_id not in stored and (one := _conversation(db, f.conversation_id)) is not None:
            stored[f.conversation_id] = one
    out: list[dict[str, Any]] = []
    escalation = policies.escalation
    unneeded = defaultdict(list)  # handoff reason -> flags saying it should not have happened
    missed = defaultdict(list)  # right reason -> flags saying it should have (or for another reason)
    for f in flagged:
        if f.kind != "misrouted":
            continue
        if not f.correction["handoff"]:
            unneeded[f.observed.get("handoff_reason") or "unknown"].append(f)
        else:
            missed[f.correction["handoff_reason"]].append(f)
    if unneeded.get("negative_sentiment"):
        out.append(_sentiment_too_eager(unneeded.pop("negative_sentiment"), stored, escalation.negative_sentiment))
    if missed.get("negative_sentiment"):
        out.append(_sentiment_too_late(missed.pop("negative_sentiment"), stored, escalation.negative_sentiment))
    if unneeded.get("low_confidence"):
        out.append(_confidence_too_eager(unneeded.pop("low_confidence"), stored, escalation.low_confidence))
    for reason, group in unneeded.items():
        out.append(_listed(f"escalation.yaml {reason}", f"{len(group)} handoff(s) for {reason} flagged as unneeded",
                           f"review the {reason} rule against these messages (the turn it fired on)", group, stored))
    for reason, group in missed.items():
        advice = {"customer_request": "`bot train` learns these as human_request; or add the wording to "
                                      "customer_request.phrases",
                  "high_stakes": "add the wording to a high_stakes topic"}.get(reason, f"review the {reason} rule")
        out.append(_listed(f"escalation.yaml {reason}", f"{len(group)} conversation(s) should have gone to a person "
                           f"for {reason}", advice, group, stored))
    out += _rails(flagged)
    out += _intents(flagged)
    return sorted(out, key=lambda s: -len(s["flags"]))


# -- negative sentiment -------------------------------------------------------------------------------------------
def _sentiments(conversation: dict[str, Any] | None, upto: int | None = None) -> list[float]:
    """The customer's sentiment per turn (bot rows carry the reading of the message they answered)."""
    if conversation is None:
        return []
    seen: dict[Any, float] = {}
    for t in conversation["transcript"]:
        if t["role"] == "bot" and t.get("sentiment") is not None and (upto is None or (t.get("turn") or 0) <= upto):
            seen.setdefault(t.get("turn"), float(t["sentiment"]))
    return list(seen.values())


def _sentiment_too_eager(group: list[Flag], stored: dict[str, Any], policy: Any) -> dict[str, Any]:
    worst = {f.conversation_id: min(_sentiments(stored.get(f.conversation_id), f.observed.get("handoff_turn")),
                                    default=None) for f in group}
    single = {cid: v for cid, v in worst.items() if v is not None and v <= policy.single_turn_threshold}
    current = policy.single_turn_threshold
    finding = (f"{len(group)} negative_sentiment handoff(s) flagged as unneeded; {len(single)} of them fired on one "
               f"message at or below single_turn_threshold {current}")
    if not single:
        return _entry("escalation.yaml negative_sentiment", finding,
                      f"the rolling rule fired (mean of {policy.rolling_turns} <= {policy.rolling_threshold}): "
                      "review rolling_threshold", None, group, stored)
    proposed = round(min(single.values()) - STEP, 2)
    flagged_ids = {f.conversation_id for f in group}
    others = [c for cid, c in stored.items() if c.get("handoff_reason") == "negative_sentiment"
              and cid not in flagged_ids]
    lost = [c for c in others if proposed < min(_sentiments(c, c.get("handoff_turn")), default=1.0) <= current]
    effect = (f"with {proposed}, {len(single)} of the {len(group)} flagged handoffs would not have fired on one "
              f"message (the rolling rule may still fire); {len(lost)} of {len(others)} other negative_sentiment "
              f"handoffs would not have happened either")
    return _entry("escalation.yaml negative_sentiment.single_turn_threshold", finding,
                  f"single_turn_threshold {current} -> {proposed}", effect, group, stored,
                  change=_change("negative_sentiment.single_turn_threshold", current, proposed))


def _sentiment_too_late(group: list[Flag], stored: dict[str, Any], policy: Any) -> dict[str, Any]:
    worst = [min(_sentiments(stored.get(f.conversation_id)), default=None) for f in group]
    worst = [v for v in worst if v is not None]
    current = policy.single_turn_threshold
    finding = f"{len(group)} conversation(s) should have gone to a person for negative_sentiment"
    if not worst:
        return _entry("escalation.yaml negative_sentiment", finding, "review the sentiment rules", None, group, stored)
    proposed = round(max(worst) + STEP, 2)
    if proposed <= current:
        return _entry("escalation.yaml negative_sentiment", finding, "the threshold was reached: check the rule's "
                      "precedence and hybrid mode (soft triggers)", None, group, stored)
    flagged_ids = {f.conversation_id for f in group}
    others = [c for cid, c in stored.items() if not c.get("handoff_reason") and cid not in flagged_ids]
    contained = [c for c in others if current < min(_sentiments(c), default=1.0) <= proposed]
    effect = (f"with {proposed}, all {len(worst)} would have been handed off; {len(contained)} of {len(others)} "
              f"other contained conversations would have been handed off too (containment cost)")
    return _entry("escalation.yaml negative_sentiment.single_turn_threshold", finding,
                  f"single_turn_threshold {current} -> {proposed}", effect, group, stored,
                  change=_change("negative_sentiment.single_turn_threshold", current, proposed))


# -- low confidence -----------------------------------------------------------------------------------------------
def _confidence_too_eager(group: list[Flag], stored: dict[str, Any], policy: Any) -> dict[str, Any]:
    lows = []
    for f in group:
        c = stored.get(f.conversation_id)
        turn = f.observed.get("handoff_turn")
        readings = [t["confidence"] for t in (c or {}).get("transcript", []) if t["role"] == "bot"
                    and t.get("confidence") is not None and t.get("turn") == turn]
        if readings:
            lows.append(min(readings))
    current = policy.threshold
    finding = f"{len(group)} low_confidence handoff(s) flagged as unneeded"
    if not lows:
        return _entry("escalation.yaml low_confidence", finding, f"review low_confidence (threshold {current}, "
                      f"max_consecutive {policy.max_consecutive})", None, group, stored)
    proposed = round(min(lows) - STEP, 2)
    return _entry("escalation.yaml low_confidence.threshold", finding,
                  f"threshold {current} -> {proposed} (or max_consecutive {policy.max_consecutive} -> "
                  f"{policy.max_consecutive + 1})",
                  f"the flagged handoffs were at confidence {min(lows):.2f}..{max(lows):.2f}; messages below "
                  f"{proposed} would still count as not understood", group, stored,
                  change=_change("low_confidence.threshold", current, proposed))


# -- rails and intents -------------------------------------------------------------------------------------------
def _rails(flagged: list[Flag]) -> list[dict[str, Any]]:
    out = []
    by_rail: dict[tuple[str, str], list[Flag]] = defaultdict(list)
    for f in flagged:
        if f.kind == "rail_false_positive":
            rails = [r["rail"] for r in (f.observed.get("turn") or {}).get("rails", []) if r.get("rail")]
            by_rail[("false_positive", rails[0] if rails else "input rails")].append(f)
        elif f.kind == "rail_false_negative":
            by_rail[("false_negative", "input rails")].append(f)
    for (kind, rail), group in by_rail.items():
        if kind == "false_positive":
            out.append(_listed(f"rail {rail}", f"{rail} blocked {len(group)} message(s) agents say were fine",
                               f"review {rail} in guardrails/input_rails.yaml against these messages; "
                               "`bot feedback export` makes them eval cases (blocked_turns) to keep it fixed",
                               group, {}))
        else:
            out.append(_listed("rails", f"{len(group)} message(s) should have been blocked",
                               "add a rule or an example attack for them (evals/redteam.jsonl); "
                               "`bot feedback export` makes them eval cases", group, {}))
    return out


def _intents(flagged: list[Flag]) -> list[dict[str, Any]]:
    pairs: dict[tuple[str, str], list[Flag]] = defaultdict(list)
    for f in flagged:
        if f.kind == "wrong_intent":
            pairs[((f.observed.get("turn") or {}).get("intent") or "?", f.correction["intent"])].append(f)
    return [_listed("intent classifier", f"{len(g)} message(s) read as {was} were {right}",
                    "`bot train` learns them (activated only if no gated metric loses); or add examples to "
                    "bot/nlu/data/intents.yaml", g, {}) for (was, right), g in pairs.items()]


def _change(key: str, current: float, proposed: float) -> dict[str, Any]:
    """The machine-readable edit of guardrails/escalation.yaml a threshold suggestion stands for."""
    return {"file": "guardrails/escalation.yaml", "key": key, "from": current, "to": proposed}


def _listed(rule: str, finding: str, suggestion: str, group: list[Flag], stored: dict[str, Any]) -> dict[str, Any]:
    return _entry(rule, finding, suggestion, None, group, stored)


def _entry(rule: str, finding: str, suggestion: str, effect: str | None, group: list[Flag], stored: dict[str, Any],
           change: dict[str, Any] | None = None) -> dict[str, Any]:
    examples = []
    for f in group[:5]:
        text = (f.observed.get("turn") or {}).get("customer") or _text_at(stored.get(f.conversation_id),
                                                                         f.observed.get("handoff_turn"))
        if text:
            examples.append({"conversation_id": f.conversation_id, "text": text})
    agents = Counter(f.agent for f in group)
    return {"rule": rule, "finding": finding, "suggestion": suggestion, "effect": effect, "change": change,
            "flags": [f.id for f in group], "agents": dict(agents), "examples": examples}


def _conversation(db: Database, conversation_id: str) -> dict[str, Any] | None:
    """One conversation in the shape of :meth:`Database.conversations_since`'s items."""
    found = db.conversation(conversation_id)
    if found is None:
        return None
    return dict(found, transcript=db.transcript(conversation_id))


def _text_at(conversation: dict[str, Any] | None, turn: int | None) -> str | None:
    if conversation is None:
        return None
    texts = [t["text"] for t in conversation["transcript"] if t["role"] == "customer"
             and (turn is None or t.get("turn") == turn)]
    return texts[-1] if texts else None
