"""orchestrate: who acts this turn — the AI or a person — by the conversation's operating mode (guardrails/modes.yaml).

Runs after `decide`, which has planned what the AI would do (or found an escalation trigger):

- `ai_first`: the plan stands (the triggers already decided every handoff).
- `human_led`: the first message goes to a person, whatever the plan; the AI's work goes into the package (summary,
  draft reply, next best action), and the customer is only told that a person will answer. After an agent hands the
  conversation back, the AI serves it as in `ai_first` (the agent chose that).
- `hybrid`: the conversation's complexity is scored each turn (`graphs.complexity`); at the policy's threshold, or
  on a hard trigger, it goes to a person. If no agent who has the skill and speaks the language has a free slot for
  it (their free slots, less the conversations already waiting for such an agent), it is queued all the same, the
  customer is told so with an honest wait, and the AI *holds*: it keeps helping and collecting facts (read-only
  tools, `decide`) until an agent takes the conversation.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from bot.handoff import skill, topic
from graphs import complexity
from graphs.context import Deps
from graphs.state import ConversationState

DAY = 86_400.0


def operating_mode(state: ConversationState) -> str:
    return (state.get("cohort") or {}).get("mode", "ai_first")


def holding(state: ConversationState, deps: Deps) -> bool:
    """Hybrid, queued for a person who has not taken it yet: the AI keeps the customer company meanwhile."""
    handoff = state.get("handoff") or {}
    return (operating_mode(state) == "hybrid" and state.get("mode") == "human" and bool(handoff.get("holding"))
            and not state.get("delegation") and deps.handoff_status(state["conversation_id"]) == "waiting")


def orchestrate(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    mode = operating_mode(state)
    if state.get("mode") == "human" or mode == "ai_first":
        return {}
    decision = dict(state.get("decision") or {})
    escalating = decision.get("action") == "escalate"
    if mode == "human_led":
        if state.get("handbacks") or state.get("handoff"):
            return {}
        if not escalating:
            cohort = (state.get("cohort") or {}).get("name", "default")
            decision = _escalation("human_led", f"cohort {cohort} is human-led (guardrails/modes.yaml)")
        decision["args"] = dict(decision.get("args") or {}, notice="handoff.human_led")
        return {"decision": decision,
                "orchestration": {"acts": "human", "why": decision["reason"], "score": None, "points": []}}

    policy = deps.mode_policy().hybrid
    u = state.get("understanding") or {}
    customer = state.get("customer") or {}
    earlier = 0
    if customer.get("id") and customer.get("known"):
        earlier = deps.history(customer["id"], deps.clock() - policy.history_days * DAY,
                               state["conversation_id"]).get("handoffs", 0)
    found = complexity.score(complexity.Situation(
        intent=u.get("intent", ""), turn=state.get("turn", 0), failures=state.get("failures", 0),
        sentiment=float(u.get("sentiment") or 0.0), tier=customer.get("tier", "standard"), earlier_handoffs=earlier,
        entities=sum(len(v) for v in (u.get("entities") or {}).values()),
        deferred=tuple(d["reason"] for d in state.get("deferred") or []),
    ), policy)
    record = {"score": found.total, "threshold": policy.hand_over_at,
              "points": [list(p) for p in found.points], "why": found.explain()}
    if not escalating and found.total < policy.hand_over_at:
        return {"orchestration": dict(record, acts="ai")}
    if not escalating:
        deferred = state.get("deferred") or []
        reason = deferred[0]["reason"] if deferred else "complexity"
        decision = _escalation(reason, f"complexity {found.total:g} ≥ {policy.hand_over_at:g}: {found.explain()}")
    wanted = skill(decision["reason"], topic(dict(state)), deps.policies.handoff)
    language = customer.get("language", "en")
    room = deps.capacity(wanted, language)
    ahead = deps.queue_length(wanted, language)  # already waiting for the same kind of agent
    slots = room.get("slots", room.get("free", 0))
    hold = slots <= ahead  # nobody suitable will be free for this one when it is queued
    decision["args"] = dict(decision.get("args") or {}, holding=hold, **({"notice": "handoff.hold"} if hold else {}))
    acts = "hold" if hold else "human"
    capacity = (f"{room.get('online', 0)} agent(s) online with skill {wanted} and language {language}, {slots} free"
                f" slot(s), {ahead} waiting ahead")
    event = {"rail": "orchestrator", "action": acts, "reason": decision["reason"],
             "detail": f"{record['why']}; {capacity}", "turn": state.get("turn", 0)}
    return {"decision": decision, "events": [event],
            "orchestration": dict(record, acts=acts, skill=wanted, capacity=capacity)}


def _escalation(reason: str, evidence: str) -> dict[str, Any]:
    return {"action": "escalate", "tool": None, "args": {"triggers": []}, "template": None, "reason": reason,
            "evidence": evidence, "pending": None}
