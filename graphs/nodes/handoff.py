"""escalate → package_handoff → (the handoff notice is answered) → wait_for_human.

`wait_for_human` pauses the graph with LangGraph's `interrupt()`; whoever resumes it sends one event through
`Command(resume=...)`:

- `{"kind": "customer", "text": ...}`: the customer wrote again. The message runs through the usual checks and
  understanding (so the waiting package grows) and is queued for the agent instead of being answered by the bot.
- `{"kind": "agent_reply", "text": ..., "agent": ...}`: an agent answered; the text is the reply of this run.
- `{"kind": "resolve", "agent": ...}`: the agent closed the conversation.
- `{"kind": "hand_back", "note": ..., "agent": ...}`: the AI takes over again, with the agent's note in state.

The node re-runs from the top on every resume, so it does nothing before `interrupt()`.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from bot.handoff import build_package
from graphs.context import Deps
from graphs.state import ConversationState


def escalate(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    decision = state["decision"]
    handoff = {
        "reason": decision["reason"],
        "evidence": decision["evidence"],
        "triggers": decision.get("args", {}).get("triggers", []),
        "turn": state["turn"],
        "at": deps.clock(),
        "language": state.get("customer", {}).get("language", "en"),
    }
    return {
        "mode": "human",
        "handoff": handoff,
        "pending": None,
        "events": [
            {"rail": "escalation", "action": "handoff", "reason": handoff["reason"], "detail": handoff["evidence"],
             "turn": state["turn"]}
        ],
    }


def package_handoff(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Build the package and put it in the queue (an upsert: re-running this node never queues twice)."""
    deps = runtime.context
    handoff = dict(state["handoff"] or {})
    package = build_package(dict(state), handoff, deps.clock())
    if deps.queue is not None:
        deps.queue.put(package)
    handoff["package_created_at"] = package["created_at"]
    handoff["priority"] = package["priority"]
    return {"handoff": handoff}


def wait_for_human(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    event = interrupt({"conversation_id": state["conversation_id"], "handoff": state.get("handoff")})
    deps = runtime.context
    kind = event.get("kind") if isinstance(event, dict) else None
    agent = event.get("agent", "agent") if isinstance(event, dict) else "agent"
    if kind == "customer":
        # The engine passes the text in the run's context (deps.inbox); a direct caller may still put it here.
        return {"human_event": "customer", "message": str(event.get("text", ""))}
    if kind == "agent_reply":
        text = str(event.get("text", "")).strip()
        return {
            "human_event": "agent_reply",
            "reply": text,
            "transcript": [{"role": "agent", "text": text, "ts": deps.clock(), "turn": state.get("turn", 0),
                            "agent": agent}],
        }
    if kind == "resolve":
        return {
            "human_event": "resolve",
            "mode": "closed",
            "reply": deps.policies.messages.get("handoff.resolved"),
            "events": [{"rail": "handoff", "action": "resolve", "reason": agent, "detail": ""}],
        }
    if kind == "hand_back":
        note = str(event.get("note", "")).strip()
        return {
            "human_event": "hand_back",
            "mode": "ai",
            "handoff": None,
            "agent_note": note or None,
            "handbacks": state.get("handbacks", 0) + 1,
            "reply": deps.policies.messages.get("handoff.handed_back", note=""),
            "events": [{"rail": "handoff", "action": "hand_back", "reason": agent, "detail": note[:200]}],
        }
    raise ValueError(f"unknown event for a conversation waiting for a human: {event!r}")


def route_after_wait(state: ConversationState) -> str:
    event = state.get("human_event")
    if event == "customer":
        return "receive"
    if event == "agent_reply":
        return "wait_for_human"
    return "end"
