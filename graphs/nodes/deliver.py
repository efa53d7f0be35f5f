"""output_checks → reply: the last look at the words, then the turn is written down."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from bot.checks import Grounding
from graphs.context import Deps
from graphs.nodes import rating
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
        grounding = Grounding((reply,), customer=state.get("message", ""), tools_ok=tools_ok(state))
        for check in deps.output_checks:
            verdict = check.check(pending, grounding)
            events += verdict.events
            if not verdict.ok:
                pending = deps.policies.messages.get("rails.fallback")
                break
            pending = verdict.text
        deps.emit(pending)
        if streamed and reply.startswith(streamed):
            reply = reply[: len(streamed)].rstrip() + " " + pending.lstrip()
        else:
            reply = pending
    return {
        "reply": reply,
        "check_events": list(state.get("check_events", [])) + events,
        "events": [dict(e, turn=state["turn"]) for e in events],
    }


def tools_ok(state: ConversationState) -> tuple[str, ...]:
    """The tools that succeeded in this turn: the only actions a reply may say were done."""
    return tuple(r["tool"] for r in state.get("tool_results") or [] if r.get("ok"))


def reply(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Record the bot's turn in the transcript (with the intent and sentiment it answered); a goodbye to the AI
    ends with the CSAT question (`graphs.nodes.rating`)."""
    deps = runtime.context
    understanding = state.get("understanding") or {}
    said = state.get("reply", "")
    update: dict[str, Any] = {}
    if understanding.get("intent") == "goodbye" and state.get("mode") == "ai" and not state.get("blocked"):
        ask, asked = rating.question(state, deps, "goodbye")
        if ask:
            deps.emit((" " if said else "") + ask)
            said, update["csat"] = f"{said} {ask}".strip(), asked
            update["reply"] = said
    return {
        **update,
        "transcript": [
            {
                "role": "bot",
                "text": said,
                "ts": runtime.context.clock(),
                "turn": state["turn"],
                "intent": understanding.get("intent"),
                "sentiment": understanding.get("sentiment"),
                "confidence": understanding.get("confidence"),
            }
        ],
        "intents": [understanding.get("intent")],
    }


def route_after_output(state: ConversationState) -> str:
    """A reply the output rails refused (and the policy escalates) hands off after it is said."""
    escalating = (state.get("decision") or {}).get("action") == "escalate" and state.get("mode") != "human"
    return "escalate" if escalating else "reply"


def route_after_reply(state: ConversationState) -> str:
    if state.get("mode") != "human":
        return "end"
    return "wait_for_human" if (state.get("handoff") or {}).get("summarized") else "summarize_handoff"
