"""receive → input_checks: take one customer message in, and let nothing malformed go further."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graphs.context import Deps
from graphs.state import ConversationState


def receive(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Start a turn: count it and clear every per-turn field (the message itself arrives in the input)."""
    return {
        "mode": "ai" if state.get("mode") == "closed" else state.get("mode", "ai"),
        "turn": state.get("turn", 0) + 1,
        "understanding": {},
        "decision": {},
        "tool_results": [],
        "context": [],
        "reply": "",
        "reply_source": "",
        "streamed": "",
        "blocked": False,
        "check_events": [],
    }


def input_checks(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Run every input check in order; the first refusal ends the turn with its canned message."""
    deps = runtime.context
    text = state.get("message", "")
    events: list[dict[str, Any]] = []
    for check in deps.input_checks:
        verdict = check.check(text)
        events += verdict.events
        text = verdict.text
        if verdict.refuse or verdict.blocked:
            placeholder = f"[message not accepted: {verdict.refuse or 'blocked'}]"
            return {
                "message": text,
                "blocked": verdict.blocked,
                "decision": {"action": "reject", "template": verdict.refuse, "args": verdict.values},
                "check_events": events,
                "events": [dict(e, turn=state["turn"]) for e in events],
                "transcript": [_customer_turn(state, text or placeholder, deps)],
            }
    return {
        "message": text,
        "check_events": events,
        "events": [dict(e, turn=state["turn"]) for e in events],
        "transcript": [_customer_turn(state, text, deps)],
    }


def _customer_turn(state: ConversationState, text: str, deps: Deps) -> dict[str, Any]:
    return {"role": "customer", "text": text, "ts": deps.clock(), "turn": state["turn"]}


def route_after_input(state: ConversationState) -> str:
    return "answer" if state.get("decision", {}).get("action") == "reject" else "understand"
