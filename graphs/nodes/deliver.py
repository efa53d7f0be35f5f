"""output_checks → reply: the last look at the words, then the turn is written down."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from bot.checks import Grounding
from graphs.context import Deps
from graphs.state import ConversationState


def output_checks(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Check and send whatever the answer node did not already stream through the checks.

    Canned sentences and fact fallbacks are trusted for grounding (they are built from the facts), but every other
    check (the guardrail rails) still applies to them.
    """
    deps = runtime.context
    reply = state.get("reply", "")
    streamed = state.get("streamed", "")
    if streamed and reply.startswith(streamed):
        pending = reply[len(streamed):]
    else:
        pending = reply
    events: list[dict[str, Any]] = []
    if pending.strip():
        grounding = Grounding((reply,))
        for check in deps.output_checks:
            verdict = check.check(pending, grounding)
            events += verdict.events
            if not verdict.ok:
                pending = deps.policies.messages.get("fallback.generic")
                break
            pending = verdict.text
        deps.emit(pending)
        reply = (reply[: len(streamed)] + pending) if streamed and reply.startswith(streamed) else pending
    return {
        "reply": reply,
        "check_events": list(state.get("check_events", [])) + events,
        "events": [dict(e, turn=state["turn"]) for e in events],
    }


def reply(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Record the bot's turn in the transcript (with the intent and sentiment it answered)."""
    understanding = state.get("understanding") or {}
    return {
        "transcript": [
            {
                "role": "bot",
                "text": state.get("reply", ""),
                "ts": runtime.context.clock(),
                "turn": state["turn"],
                "intent": understanding.get("intent"),
                "sentiment": understanding.get("sentiment"),
            }
        ],
        "intents": [understanding.get("intent")],
    }


def route_after_reply(state: ConversationState) -> str:
    return "wait_for_human" if state.get("mode") == "human" else "end"
