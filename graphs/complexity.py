"""How complex a conversation has become: the hybrid orchestrator's score, as one pure function.

Points come from guardrails/modes.yaml `hybrid` (the topic, the length of the conversation, "that didn't help"s,
the customer's mood, tier and history, how much is in play, and soft escalation triggers). Each point comes back
with the reason it was given, so the agent and QA read *why* the orchestrator handed over, not just that it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.modes import HybridPolicy


@dataclass(frozen=True)
class Situation:
    """What the orchestrator looks at for one customer turn."""

    intent: str
    turn: int
    failures: int
    sentiment: float
    tier: str
    earlier_handoffs: int  # the customer's handoffs in earlier conversations, within `history_days`
    entities: int  # ids, amounts, e-mails … mentioned so far this turn
    deferred: tuple[str, ...] = field(default_factory=tuple)  # soft triggers that fired this turn


@dataclass(frozen=True)
class Score:
    total: float
    points: tuple[tuple[str, float, str], ...]  # (name, points, why)

    def explain(self) -> str:
        return ", ".join(f"{name} +{value:g} ({why})" for name, value, why in self.points) or "nothing complex"


def score(s: Situation, policy: HybridPolicy) -> Score:
    points: list[tuple[str, float, str]] = []

    def add(name: str, value: float, why: str) -> None:
        if value:
            points.append((name, value, why))

    add("topic", policy.intent_points.get(s.intent, 0), s.intent)
    if s.turn >= policy.long_conversation_turns:
        add("long conversation", policy.long_conversation_points, f"customer turn {s.turn}")
    add("didn't help", policy.failure_points * s.failures, f"{s.failures} time(s)")
    if s.sentiment <= policy.negative_below:
        add("mood", policy.negative_points, f"sentiment {s.sentiment:+.2f}")
    add("tier", policy.tier_points.get(s.tier, 0), s.tier)
    if s.earlier_handoffs:
        add("history", policy.history_points, f"{s.earlier_handoffs} earlier handoff(s)")
    if s.entities >= policy.entities_at_least:
        add("in play", policy.entity_points, f"{s.entities} ids/amounts mentioned")
    for reason in s.deferred:
        add(reason, policy.soft_triggers.get(reason, 0), "soft trigger")
    return Score(round(sum(p[1] for p in points), 2), tuple(points))
