"""decide: escalate, act with a tool, ask a clarifying question, or answer.

Order of questions: is a person already handling this conversation? can the LLM speak the customer's language?
does an escalation trigger fire? did the customer answer a question we asked? is the message understood? Then each
intent has one plan: order intents need an order id (and, for a guest, the order's email) before a tool runs;
knowledge questions are answered from retrieved policy passages; small talk is answered directly.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from graphs import delegation, escalation
from graphs.context import Deps
from graphs.nodes.orchestrate import holding, operating_mode
from graphs.nodes.understand import yes_no
from graphs.state import ConversationState

ORDER_TOOLS = {
    "order_status": "get_order",
    "cancel_order": "cancel_order",
    "return_refund": "start_return",
    "damaged_item": "start_return",
}
KB_INTENTS = {"billing", "shipping_info", "complaint", "account_update", "product_question"}
SMALL_TALK = {"greeting", "goodbye", "thanks"}
NOTED_WHILE_HOLDING = {"complaint", "human_request"}  # hybrid, waiting for a person: noted for them, not answered
# "how long does a refund take?" asks about the policy; "I want to return my lamp" asks for an action.
_POLICY_QUESTION = re.compile(
    r"^\s*(how|what|when|which|why|is|are|do|does|can i|could i|may i|will)\b|\bpolicy\b|\bhow (long|many|much|do|does)\b",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"\b(address|moved|moving|relocat\w*|ship(ping)? to a new)\b", re.IGNORECASE)


def _decision(action: str, **fields: Any) -> dict[str, Any]:
    return {"action": action, "tool": None, "args": {}, "template": None, "reason": None, "evidence": None,
            "pending": None, **fields}


def decide(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    u = state["understanding"]
    policy = deps.policies.escalation
    customer = state.get("customer", {})
    update: dict[str, Any] = {}

    if state.get("mode") == "human":
        if state.get("delegation"):  # an agent gave the AI a task: collect what it needs
            return delegated(state, deps)
        if not holding(state, deps):
            return {"decision": _decision("queue", template="handoff.queued")}
        return _hold(state, deps)  # hybrid: queued, nobody has taken it yet — the AI keeps helping meanwhile
    # Triggers come first: "I want a person" works in any language, and a high-stakes message never waits.

    signals = escalation.Signals(
        text=state["message"],
        intent=u["intent"],
        confidence=u["confidence"],
        sentiment=u["sentiment"],
        sentiment_trail=tuple(state.get("sentiment_trail", [])[:-1]),
        failures=state.get("failures", 0),
        failure_signal=u["failure_signal"],
        low_confidence_streak=state.get("low_confidence_streak", 0),
        tier=customer.get("tier", "standard"),
        handed_back=state.get("handbacks", 0) > 0,
        abusive=bool((state.get("rail_flags") or {}).get("abusive")),
    )
    fired = escalation.evaluate(signals, policy)
    soft = deps.mode_policy().hybrid.soft_triggers if operating_mode(state) == "hybrid" else {}
    deferred = [t for t in fired if t.reason in soft]  # hybrid: complexity points for the orchestrator instead
    fired = [t for t in fired if t.reason not in soft]
    if fired:
        return _escalate(fired[0].reason, fired[0].evidence, [t.__dict__ for t in fired])
    if deferred:
        update["deferred"] = [t.__dict__ for t in deferred]
    if not deps.speaks(u["language"]):
        return _escalate(
            policy.language.unsupported_reason,
            f"customer writes in '{u['language']}'; the configured LLM answers in {', '.join(deps.llm_languages)}",
            [],
        )
    # A reply the LLM fails to write hands off in its own turn (`answer`, policy `system_error`), not here.
    return dict(update, **_next_step(state, policy.low_confidence))


def _next_step(state: ConversationState, low_confidence: Any) -> dict[str, Any]:
    """What the AI does with an understood message: carry on with a pending question, clarify, or plan the intent."""
    u = state["understanding"]
    update: dict[str, Any] = {}
    update["failures"] = state.get("failures", 0) + (1 if u["failure_signal"] else 0)
    uncertain = low_confidence.uncertain(u["intent"], u["confidence"]) and u["source"] != "carried"
    update["low_confidence_streak"] = state.get("low_confidence_streak", 0) + 1 if uncertain else 0
    update["pending"] = None

    pending = state.get("pending")
    if pending and u["source"] == "carried":
        update["decision"] = _resume_pending(pending, state)
    elif u["failure_signal"]:
        update["decision"] = _decision("clarify", template="clarify.failure")
    elif uncertain:
        update["decision"] = _decision("clarify", template="clarify.low_confidence")
    else:
        update["decision"] = _plan(u["intent"], state)
    update["pending"] = update["decision"].get("pending")
    return update


def _hold(state: ConversationState, deps: Deps) -> dict[str, Any]:
    """Hybrid, waiting for a free person: the AI's usual next step, but only read-only tools; anything that would
    change the order or account is noted for the person (they decide it), with the wait said again."""
    update = _next_step(state, deps.policies.escalation.low_confidence)
    decision = update["decision"]
    allowed = deps.mode_policy().hybrid.hold_tools
    changes = decision["action"] == "act" and decision.get("tool") not in allowed
    if changes or state["understanding"].get("intent") in NOTED_WHILE_HOLDING:
        update["decision"] = _decision("answer", template="handoff.hold_noted")
        order_id = (decision.get("args") or {}).get("order_id")
        if changes and order_id and "get_order" in allowed:  # look the order up for the person who will act on it
            update["decision"] = _decision("act", tool="get_order", args={"order_id": order_id},
                                           template="handoff.hold_noted")
        update["pending"] = None
    update["decision"]["args"] = dict(update["decision"].get("args") or {}, holding=True)
    return update


def delegated(state: ConversationState, deps: Deps) -> dict[str, Any]:
    """An agent's task for the AI: ask for the next missing item; with all of them, run the task's tool (if any),
    give the conversation back to the agent and record what was collected."""
    task = state["delegation"] or {}
    u = state["understanding"]
    turn = state.get("turn", 0)
    if u.get("intent") == "human_request":  # the customer wants the person back now
        return {"delegation": None, "decision": _decision("queue", template="handoff.queued"),
                "events": [{"rail": "handoff", "action": "delegation_stopped", "reason": task.get("agent"),
                            "detail": "the customer asked for a person", "turn": turn}]}
    collect = delegation.needed(state, task.get("collect") or [], task.get("then"))
    wanted = delegation.missing(state, collect)
    if wanted:
        order_id = delegation.value("order_id", state)
        if wanted[0] == "email" and task.get("then") and order_id:  # a guest confirms the order's e-mail
            return {"decision": _decision("clarify", template="clarify.order_email", args={"order_id": order_id})}
        return {"decision": _decision("clarify", template=delegation.QUESTIONS[wanted[0]])}
    got = {slot: delegation.value(slot, state) for slot in collect}
    done = {"rail": "handoff", "action": "delegation_done", "reason": task.get("agent"),
            "detail": f"{task.get('task')}: " + ", ".join(f"{k} {v}" for k, v in got.items()), "turn": turn}
    update: dict[str, Any] = {"delegation": None, "events": [done], "pending": None}
    if task.get("then") and got.get("order_id"):
        tool, args = order_tool_call("order_status", got["order_id"], state["message"]) \
            if task["then"] == "get_order" else (task["then"], {"order_id": got["order_id"]})
        update["decision"] = _decision("act", tool=tool, args=args, template="handoff.delegation_done")
    else:
        update["decision"] = _decision("answer", template="handoff.delegation_done")
    return update


def _escalate(reason: str, evidence: str, triggers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"decision": _decision("escalate", reason=reason, evidence=evidence, args={"triggers": triggers})}


def _order_id(state: ConversationState) -> str | None:
    found = state["understanding"]["entities"].get("order_ids") or []
    return found[-1] if found else (state.get("facts") or {}).get("last_order_id")


def _guest_email(state: ConversationState) -> str | None:
    emails = (state.get("facts") or {}).get("emails") or []
    return emails[-1] if emails else None


def _plan(intent: str, state: ConversationState) -> dict[str, Any]:
    customer = state.get("customer", {})
    text = state["message"]
    if intent == "out_of_scope":
        return _decision("answer", template="out_of_scope")
    if intent in SMALL_TALK:
        return _decision("answer", args={"task": intent})
    if intent == "human_request":  # only reached when the customer_request trigger is disabled by policy
        return _decision("answer", args={"task": "contact", "query": "talk to a person contact hours"})
    if intent in ORDER_TOOLS:
        mentions_order = bool(state["understanding"]["entities"].get("order_ids"))
        if intent in ("return_refund", "damaged_item") and not mentions_order and _POLICY_QUESTION.search(text):
            return _decision("answer", args={"task": "kb", "query": text})
        return _order_plan(intent, state)
    if intent == "password_reset":
        email = customer.get("email") if customer.get("known") else _guest_email(state)
        if not email:
            return _decision("clarify", template="clarify.email",
                             pending={"kind": "slot", "slot": "email", "intent": intent})
        return _decision("act", tool="send_password_reset", args={"email": email})
    if intent == "account_update" and _ADDRESS.search(text) and customer.get("known"):
        return _decision("clarify", template="clarify.address",
                         pending={"kind": "slot", "slot": "address", "intent": intent})
    if intent == "product_question":
        return _decision("act", tool="search_products", args={"query": text}, )
    if intent in KB_INTENTS:
        return _decision("answer", args={"task": "kb", "query": text})
    return _decision("clarify", template="clarify.low_confidence")


def _order_plan(intent: str, state: ConversationState) -> dict[str, Any]:
    customer = state.get("customer", {})
    order_id = _order_id(state)
    if not order_id:
        if customer.get("known"):
            return _decision("act", tool="list_orders", args={},
                             pending={"kind": "slot", "slot": "order_id", "intent": intent})
        return _decision("clarify", template="clarify.order_id",
                         pending={"kind": "slot", "slot": "order_id", "intent": intent})
    if not customer.get("known") and not _guest_email(state):
        return _decision("clarify", template="clarify.order_email", args={"order_id": order_id},
                         pending={"kind": "slot", "slot": "email", "intent": intent, "order_id": order_id})
    tool, args = order_tool_call(intent, order_id, state["message"])
    return _decision("act", tool=tool, args=args)


def order_tool_call(intent: str, order_id: str, message: str) -> tuple[str, dict[str, Any]]:
    """The tool and arguments that serve an order intent (a cancellation is only checked until confirmed)."""
    tool = ORDER_TOOLS[intent]
    if tool == "cancel_order":
        return tool, {"order_id": order_id, "confirmed": False}
    if tool == "start_return":
        return tool, {"order_id": order_id, "reason": message[:200], "damaged": intent == "damaged_item"}
    return tool, {"order_id": order_id}


def _resume_pending(pending: dict[str, Any], state: ConversationState) -> dict[str, Any]:
    """The customer answered the question asked last turn: carry on with that plan."""
    if pending.get("kind") == "confirm":
        if yes_no(state["message"]) == "yes":
            return _decision("act", tool=pending["tool"], args=dict(pending["args"], confirmed=True))
        return _decision("answer", template="confirm.declined", args=dict(pending["args"]))
    intent = pending.get("intent", "order_status")
    if pending.get("slot") == "address":
        return _decision("act", tool="update_address", args={"new_address": state["message"][:300]})
    if pending.get("slot") == "email" and intent == "password_reset":
        return _decision("act", tool="send_password_reset", args={"email": _guest_email(state)})
    return _plan(intent, state)
