"""escalate → package_handoff → (the handoff notice is answered) → summarize_handoff → wait_for_human.

`wait_for_human` pauses the graph with LangGraph's `interrupt()`; whoever resumes it sends one event through
`Command(resume=...)`:

- `{"kind": "customer", "text": ...}`: the customer wrote again. The message runs through the usual checks and
  understanding (so the waiting package grows) and is queued for the agent instead of being answered by the bot.
- `{"kind": "agent_reply", "text": ..., "agent": ...}`: an agent answered; the text is the reply of this run.
- `{"kind": "resolve", "agent": ...}`: the agent closed the conversation.
- `{"kind": "hand_back", "note": ..., "agent": ...}`: the AI takes over again, with the agent's note in state.
- `{"kind": "agent_tool", "result": {...}, "agent": ...}`: the desk ran a tool for the agent (AI assist);
  `assist_tool` records it with the actions taken, and the conversation keeps waiting.

Agent text and tool results arrive redacted (the engine redacts them before they enter `Command(resume=...)`, which
LangGraph stores with the checkpoint); the nodes redact again, harmlessly, for direct callers.

The node re-runs from the top on every resume, so it does nothing before `interrupt()`.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from bot.handoff import build_package
from graphs import delegation
from graphs.context import Deps
from graphs.nodes import rating
from graphs.state import ConversationState

WRITTEN = ("summary", "summary_source", "suggested_reply", "suggested_reply_source")


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
        "holding": bool((decision.get("args") or {}).get("holding")),  # hybrid: the AI stays until a person is free
        "operating_mode": (state.get("cohort") or {}).get("mode", "ai_first"),
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
    """Build the package and put it in the queue (an upsert: re-running this node never queues twice).

    Also runs for every customer message written while the conversation waits for an agent, so the waiting package
    always holds the whole conversation.
    """
    deps = runtime.context
    handoff = dict(state["handoff"] or {})
    package = build_package(dict(state), handoff, deps.clock(), deps.policies.handoff)
    if deps.queue is not None:
        deps.queue.put(package)
    handoff["package_created_at"] = package["created_at"]
    handoff["priority"] = package["priority"]
    return {"handoff": handoff}


def summarize_handoff(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """After the customer has read the handoff notice: the LLM's summary and suggested reply for the agent.

    They replace the package's fact-made ones only when they pass the transcript check (`deps.summarizer`), then the
    package is queued again. Runs once per handoff; idempotent if it re-runs.
    """
    deps = runtime.context
    handoff = dict(state["handoff"] or {})
    package = build_package(dict(state), handoff, deps.clock(), deps.policies.handoff)
    written = deps.summarizer(package) if deps.summarizer is not None else {}
    handoff.update({k: v for k, v in written.items() if k in WRITTEN})
    handoff["summarized"] = True
    if written and deps.queue is not None:
        deps.queue.put(build_package(dict(state), handoff, deps.clock(), deps.policies.handoff))
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
        text = deps.redact(str(event.get("text", "")).strip())
        return {
            "human_event": "agent_reply",
            "delegation": None,  # replying takes back a task given to the AI
            "reply": text,
            "transcript": [{"role": "agent", "text": text, "ts": deps.clock(), "turn": state.get("turn", 0),
                            "agent": agent}],
        }
    if kind == "resolve":
        said = deps.policies.messages.get("handoff.resolved")
        ask, asked = rating.question(state, deps, "resolve")
        said = f"{said} {ask}".strip()
        return {
            "human_event": "resolve",
            "mode": "closed",
            "delegation": None,
            **({"csat": asked} if asked else {}),
            "reply": said,
            "transcript": [{"role": "system", "text": said, "ts": deps.clock(), "turn": state.get("turn", 0)}],
            "events": [{"rail": "handoff", "action": "resolve", "reason": agent, "detail": ""}],
        }
    if kind == "agent_tool":
        return {"human_event": "agent_tool", "reply": "",
                "agent_request": {"result": dict(event.get("result") or {}), "agent": agent}}
    if kind == "delegate":
        return _delegate(state, deps, event, agent)
    if kind == "take_back":
        task = (state.get("delegation") or {}).get("task")
        return {"human_event": "take_back", "delegation": None, "reply": "",
                "events": [{"rail": "handoff", "action": "take_back", "reason": agent, "detail": task or "",
                            "turn": state.get("turn", 0)}]}
    if kind == "hand_back":
        note = deps.redact(str(event.get("note", "")).strip())
        said = deps.policies.messages.get("handoff.handed_back", note="")
        return {
            "human_event": "hand_back",
            "mode": "ai",
            "handoff": None,
            "agent_note": note or None,
            "llm_history": _with_agent_context(state, note),
            "handbacks": state.get("handbacks", 0) + 1,
            "reply": said,
            "transcript": [{"role": "system", "text": said, "ts": deps.clock(), "turn": state.get("turn", 0)}],
            "events": [{"rail": "handoff", "action": "hand_back", "reason": agent, "detail": note[:200]}],
        }
    raise ValueError(f"unknown event for a conversation waiting for a human: {event!r}")


def _delegate(state: ConversationState, deps: Deps, event: dict[str, Any], agent: str) -> dict[str, Any]:
    """An agent gives the AI a task (guardrails/modes.yaml `delegation`): the AI asks for the first missing item."""
    name = str(event.get("task", ""))
    task = deps.mode_policy().delegation.get(name)
    if task is None:
        raise ValueError(f"unknown delegation task {name!r}")
    wanted = delegation.missing(state, list(task.collect), task.then)
    ask = deps.policies.messages.get(delegation.QUESTIONS[wanted[0]]) if wanted else ""
    turn = state.get("turn", 0)
    return {
        "human_event": "delegate",
        "delegation": delegation.task_record(name, task, agent, turn),
        "reply": ask,
        "transcript": [{"role": "bot", "text": ask, "ts": deps.clock(), "turn": turn}] if ask else [],
        "events": [{"rail": "handoff", "action": "delegate", "reason": agent, "detail": name, "turn": turn}],
    }


def assist_tool(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Record a tool an agent had the AI run (the desk ran it; the result comes in redacted) among the actions."""
    request = state.get("agent_request") or {}
    result, agent = dict(request.get("result") or {}), request.get("agent", "agent")
    turn = state.get("turn", 0)
    return {
        "tool_results": [result],
        "actions_taken": [{"turn": turn, "tool": result.get("tool"), "args": result.get("args", {}),
                           "ok": bool(result.get("ok")), "code": result.get("code"), "result": result.get("message"),
                           "by": agent}],
        "events": [{"rail": "handoff", "action": "agent_tool", "reason": agent,
                    "detail": f"{result.get('tool')}: {result.get('code')}", "turn": turn}],
    }


def _with_agent_context(state: ConversationState, note: str) -> list[dict[str, str]]:
    """The LLM's history plus what happened with the agent, so the AI picks up where the person left off."""
    turn = (state.get("handoff") or {}).get("turn", 0)
    said = [t["text"] for t in state.get("transcript", []) if t["role"] == "agent" and (t.get("turn") or 0) >= turn]
    context = "A colleague from the support team talked with the customer and handed the conversation back to you."
    if said:
        context += " They said: " + " / ".join(said)[-600:]
    if note:
        context += f" Their note for you: {note}"
    return list(state.get("llm_history") or []) + [{"role": "user", "content": context},
                                                   {"role": "assistant", "content": "Understood."}]


def route_after_wait(state: ConversationState) -> str:
    event = state.get("human_event")
    if event == "customer":
        return "receive"
    if event == "agent_tool":
        return "assist_tool"
    if event in ("agent_reply", "delegate", "take_back"):
        return "wait_for_human"
    return "end"
