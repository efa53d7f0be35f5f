"""The handoff package: everything an agent needs so the customer never repeats themselves.

Built from the conversation state by the `package_handoff` node and validated by :class:`HandoffPackage` (versioned
JSON; the fields of ../shared/CONTRACTS.md §1 `bot agent queue --json` are all present). What goes in is decided by
`guardrails/handoff.yaml` (priorities, skills, suggested actions), so operations can change it without code. The
summary and suggested reply start out deterministic (made from the recorded facts, so they cannot invent any); the
`summarize_handoff` node then offers the LLM's versions, which replace them only when they pass the transcript check
(`bot/summary.py`). The transcript is the redacted one: a package never holds raw personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.policy import PRIORITY_RANK, HandoffPolicy

PACKAGE_VERSION = 2
LEVELS = ("urgent", "high", "normal")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class PackageCustomer(_Model):
    id: str | None
    name: str | None
    tier: str
    language: str
    known: bool


class TrailPoint(_Model):
    turn: int | None
    sentiment: float | None
    text: str = ""  # the customer's message of that turn, clipped


class Line(_Model):
    role: Literal["customer", "bot", "agent", "system"]
    text: str
    turn: int | None = None
    stt_confidence: float | None = None  # voice: how sure speech recognition was of a customer's words



class Returning(_Model):
    """Set when the conversation comes back after an agent handed it to the AI (loop protection)."""

    handbacks: int
    last_agent: str | None
    note: str | None


class HandoffPackage(_Model):
    version: int = PACKAGE_VERSION
    conversation_id: str
    channel: str
    reason: str
    evidence: str
    triggers: list[dict[str, Any]] = Field(default_factory=list)  # every trigger that fired: {reason, evidence}
    priority: Literal["urgent", "high", "normal"]
    skill: str
    language: str
    customer: PackageCustomer
    intent: str | None  # of the last customer message
    topic: str | None = None  # the last store intent of the conversation (what the agent will work on)
    sentiment: float | None
    sentiment_trail: list[TrailPoint]
    summary: str
    summary_source: Literal["facts", "llm"] = "facts"
    transcript: list[Line]
    facts: dict[str, Any]
    actions_taken: list[dict[str, Any]]
    suggested_actions: list[str]
    suggested_tools: list[str] = Field(default_factory=list)
    suggested_reply: str
    suggested_reply_source: Literal["facts", "llm"] = "facts"
    guardrail_events: list[dict[str, Any]]
    messages_since_handoff: int = 0  # customer messages written while waiting (they are in the transcript)
    returning: Returning | None = None
    preferred_agent: str | None = None
    created_at: str
    turn: int | None


class HandoffQueue(Protocol):
    """Where packages wait for an agent (durable, same database as the checkpoints)."""

    def put(self, package: dict[str, Any]) -> None: ...


def priority(reason: str, tier: str, sentiment: float | None, policy: HandoffPolicy, *,
             returning: bool = False) -> str:
    """The priority a handoff starts with (it then rises while it waits: :func:`aged_priority`)."""
    level = policy.priority_by_reason.get(reason, "normal")
    raised = tier in policy.raise_for_tiers or returning or (
        sentiment is not None and sentiment <= policy.raise_below_sentiment)
    if raised:
        level = min(level, "high", key=PRIORITY_RANK.__getitem__)
    return level


def aged_priority(level: str, waited_minutes: float, policy: HandoffPolicy) -> str:
    """One level up for every `aging_minutes` waited: nobody waits forever behind urgent cases."""
    steps = int(max(0.0, waited_minutes) // policy.aging_minutes)
    return LEVELS[max(0, PRIORITY_RANK.get(level, 2) - steps)]


def skill(reason: str, intent: str | None, policy: HandoffPolicy) -> str:
    return policy.skill_by_reason.get(reason) or policy.skill_by_intent.get(intent or "") or policy.default_skill


def _summary(state: dict[str, Any], handoff: dict[str, Any]) -> str:
    customer = state.get("customer", {})
    who = customer.get("name") or ("guest" if not customer.get("known") else customer.get("id"))
    intents = [i for i in state.get("intents", []) if i] + [(state.get("understanding") or {}).get("intent")]
    topics = ", ".join(dict.fromkeys(i.replace("_", " ") for i in intents if i and i != "out_of_scope"))
    parts = [f"{who} ({customer.get('tier', 'standard')}) contacted us about {topics or 'an unclear request'}."]
    orders = (state.get("facts") or {}).get("order_ids") or []
    if orders:
        parts.append(f"Orders mentioned: {', '.join(orders)}.")
    actions = state.get("actions_taken") or []
    if actions:
        parts.append("Bot actions: " + "; ".join(a["result"] for a in actions[-3:]))
    parts.append(f"Handed off: {handoff['evidence']}.")
    return " ".join(parts)


def _trail(state: dict[str, Any]) -> list[dict[str, Any]]:
    said = {t.get("turn"): t["text"] for t in state.get("transcript", []) if t["role"] == "customer"}
    points = [
        {"turn": t["turn"], "sentiment": t.get("sentiment"), "text": said.get(t["turn"], "")[:120]}
        for t in state.get("transcript", [])
        if t["role"] == "bot" and t.get("sentiment") is not None
    ]
    understanding = state.get("understanding") or {}
    if understanding and not any(p["turn"] == state.get("turn") for p in points):
        text = said.get(state.get("turn"), state.get("message", ""))
        points.append({"turn": state.get("turn"), "sentiment": understanding.get("sentiment"), "text": text[:120]})
    return points


NOT_TOPICS = frozenset({"human_request", "greeting", "goodbye", "thanks", "out_of_scope", "complaint"})


def topic(state: dict[str, Any]) -> str | None:
    """What the conversation is about: its last store intent ("where is A10002" → "I want a person" → order_status)."""
    current = (state.get("understanding") or {}).get("intent")
    for intent in [current] + list(reversed(state.get("intents") or [])):
        if intent and intent not in NOT_TOPICS:
            return intent
    return current


def _returning(state: dict[str, Any]) -> dict[str, Any] | None:
    if not state.get("handbacks"):
        return None
    back = [e for e in state.get("events", []) if e.get("rail") == "handoff" and e.get("action") == "hand_back"]
    last = back[-1] if back else {}
    return {"handbacks": state["handbacks"], "last_agent": last.get("reason"), "note": state.get("agent_note")}


def build_package(state: dict[str, Any], handoff: dict[str, Any], now: float, policy: HandoffPolicy) -> dict[str, Any]:
    """The package for `handoff` (reason, evidence, turn) from the conversation state, as validated JSON."""
    customer = state.get("customer", {})
    understanding = state.get("understanding") or {}
    trail = _trail(state)
    intent = understanding.get("intent")
    about = topic(state)
    reason = handoff["reason"]
    returning = _returning(state)
    suggestions = [s for s in (policy.suggested_by_reason.get(reason), policy.suggested_by_intent.get(about or ""))
                   if s] or [policy.suggested_default]
    if returning:
        suggestions.insert(0, f"Returning after a hand-back to the AI ({returning['handbacks']}x): the AI could not"
                              " finish it, so take it to the end.")
    name = customer.get("name")
    transcript = state.get("transcript", [])
    since = [t for t in transcript if t["role"] == "customer" and (t.get("turn") or 0) > (handoff.get("turn") or 0)]
    created = handoff.get("package_created_at") or dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(
        timespec="seconds")
    package = HandoffPackage(
        conversation_id=state["conversation_id"],
        channel=state.get("channel", "chat"),
        reason=reason,
        evidence=handoff["evidence"],
        triggers=handoff.get("triggers", []),
        priority=priority(reason, customer.get("tier", "standard"), trail[-1]["sentiment"] if trail else None,
                          policy, returning=returning is not None),
        skill=skill(reason, about, policy),
        language=handoff.get("language") or customer.get("language", "en"),
        customer=PackageCustomer(id=customer.get("id"), name=name, tier=customer.get("tier", "standard"),
                                 language=customer.get("language", "en"), known=bool(customer.get("known"))),
        intent=intent,
        sentiment=trail[-1]["sentiment"] if trail else None,
        sentiment_trail=[TrailPoint(**p) for p in trail],
        summary=handoff.get("summary") or _summary(state, handoff),
        summary_source=handoff.get("summary_source", "facts"),
        transcript=[Line(role=t["role"], text=t["text"], turn=t.get("turn"), stt_confidence=t.get("stt_confidence"))
                    for t in transcript],
        facts=state.get("facts") or {},
        actions_taken=state.get("actions_taken") or [],
        suggested_actions=suggestions,
        topic=about,
        suggested_tools=list(policy.tools_by_intent.get(about or "", [])),
        suggested_reply=handoff.get("suggested_reply") or (
            f"Hi{' ' + name.split()[0] if name else ''}, I'm from the support team and I've read your conversation"
            " so far. I'll take it from here."),
        suggested_reply_source=handoff.get("suggested_reply_source", "facts"),
        guardrail_events=[e for e in state.get("events", []) if e.get("rail") not in (None, "escalation", "handoff")],
        messages_since_handoff=len(since),
        returning=Returning(**returning) if returning else None,
        preferred_agent=returning["last_agent"] if returning else None,
        created_at=created,
        turn=handoff.get("turn", state.get("turn")),
    )
    return package.model_dump(mode="json")
