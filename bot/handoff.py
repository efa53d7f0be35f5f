"""The handoff package: everything an agent needs so the customer never repeats themselves.

Built from the conversation state by the `package_handoff` node; the fields of ../shared/CONTRACTS.md §1
(`bot agent queue --json`) are all present. This first version is deterministic (the summary is assembled from the
recorded facts, so it cannot invent any); the agent-desk issue adds an LLM summary checked against the transcript.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

PACKAGE_VERSION = 1

PRIORITY_BY_REASON = {
    "high_stakes": "urgent",
    "system_error": "high",
    "negative_sentiment": "high",
    "vip_customer": "high",
    "repeated_failure": "high",
    "guardrail": "high",
    "customer_request": "normal",
    "low_confidence": "normal",
}
_RANK = {"urgent": 0, "high": 1, "normal": 2}

SUGGESTED_BY_INTENT = {
    "order_status": "Check the carrier's tracking for the order and give a delivery estimate.",
    "cancel_order": "Check whether the order can still be cancelled; if it shipped, offer a return after delivery.",
    "return_refund": "Confirm return eligibility and send the prepaid label; explain refund timing.",
    "damaged_item": "Ask for a photo if needed, then offer a replacement or refund per the damaged-items policy.",
    "billing": "Review the payment history for the charge in question.",
    "password_reset": "Send a password reset link to the email on file; never ask for the password.",
    "account_update": "Verify the customer and update the account details.",
    "shipping_info": "Answer from the shipping policy.",
    "product_question": "Answer from the product catalogue.",
    "complaint": "Acknowledge the complaint and offer a concrete remedy within policy.",
}
SUGGESTED_BY_REASON = {
    "high_stakes": "Treat as high stakes: follow the fraud / legal / safety procedure before anything else.",
    "negative_sentiment": "Acknowledge the frustration first.",
    "repeated_failure": "The bot's answers did not help: do not repeat them.",
    "vip_customer": "VIP customer: personal service.",
    "low_confidence": "The bot could not tell what the customer needs: ask one open question.",
    "system_error": "The bot had a technical problem: apologise for the delay.",
}


class HandoffQueue(Protocol):
    """Where packages wait for an agent (durable, same database as the checkpoints)."""

    def put(self, package: dict[str, Any]) -> None: ...


def priority(reason: str, tier: str, sentiment: float | None) -> str:
    level = PRIORITY_BY_REASON.get(reason, "normal")
    if tier in ("vip", "gold") or (sentiment is not None and sentiment <= -0.6):
        level = min(level, "high", key=_RANK.__getitem__)
    return level


def _summary(state: dict[str, Any], handoff: dict[str, Any]) -> str:
    customer = state.get("customer", {})
    who = customer.get("name") or ("guest" if not customer.get("known") else customer.get("id"))
    intents = [i for i in state.get("intents", []) if i] + [state.get("understanding", {}).get("intent")]
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


def build_package(state: dict[str, Any], handoff: dict[str, Any], now: float) -> dict[str, Any]:
    customer = state.get("customer", {})
    understanding = state.get("understanding") or {}
    trail = state.get("sentiment_trail") or []
    intent = understanding.get("intent")
    reason = handoff["reason"]
    suggestions = [s for s in (SUGGESTED_BY_REASON.get(reason), SUGGESTED_BY_INTENT.get(intent or "")) if s]
    name = customer.get("name")
    return {
        "version": PACKAGE_VERSION,
        "conversation_id": state["conversation_id"],
        "channel": state.get("channel", "chat"),
        "reason": reason,
        "evidence": handoff["evidence"],
        "triggers": handoff.get("triggers", []),
        "priority": priority(reason, customer.get("tier", "standard"), trail[-1] if trail else None),
        "customer": {
            "id": customer.get("id"),
            "name": name,
            "tier": customer.get("tier", "standard"),
            "language": customer.get("language", "en"),
            "known": bool(customer.get("known")),
        },
        "intent": intent,
        "sentiment": trail[-1] if trail else None,
        "sentiment_trail": [
            {"turn": t["turn"], "sentiment": t.get("sentiment")}
            for t in state.get("transcript", [])
            if t["role"] == "bot" and t.get("sentiment") is not None
        ]
        + ([{"turn": state.get("turn"), "sentiment": understanding.get("sentiment")}] if understanding else []),
        "summary": _summary(state, handoff),
        "transcript": [{"role": t["role"], "text": t["text"]} for t in state.get("transcript", [])],
        "facts": state.get("facts") or {},
        "actions_taken": state.get("actions_taken") or [],
        "suggested_actions": suggestions,
        "suggested_reply": (
            f"Hi{' ' + name.split()[0] if name else ''}, I'm from the support team and I've read your conversation"
            " so far. I'll take it from here."
        ),
        "guardrail_events": [e for e in state.get("events", []) if e.get("rail") not in (None, "escalation")],
        "created_at": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(timespec="seconds"),
        "turn": state.get("turn"),
    }
