"""The whole conversation flow in one builder.

    intake ─┬─ act ──────────────────────────────────┐
            ├─ escalate → package_handoff ──────────┤
            ├─ (waiting for an agent) package_handoff ┤  (the package grows)
            └───────────────────────────────────────┴→ respond
    respond ─┬─ (mode ai) → END
             ├─ (a reply the rails refused twice, or the LLM could not write: policy hands off) → escalate
             └─ (mode human) → [summarize_handoff, once per handoff] → wait_for_human ─┬─ customer wrote → intake
                                                                                      ├─ agent replied → ↺
                                                                                      ├─ agent gave the AI a task,
                                                                                      │  or took it back → ↺
                                                                                      ├─ agent's tool → assist_tool ↺
                                                                                      └─ resolved / handed back → END
    where
    intake  = receive → input_checks ─┬─ take_rating ─┬─ understand → decide → orchestrate
                                      │               └─ (the customer rated the conversation) → (end of step)
                                      └─ (the checks settled the turn: refused, ask again, hand off) → (end of step)
    respond = answer → output_checks ─┬─ reply
                                      └─ (refused, and the policy hands off) → (end of step)

One invocation is one customer turn (or one agent event). Every node is a plain function over
:class:`~graphs.state.ConversationState`; side effects come in through :class:`~graphs.context.Deps`. `intake` and
`respond` each run their nodes as one LangGraph step (:func:`graphs.steps.sequence`): each step costs bookkeeping
and a checkpoint, and a turn's own work is a few milliseconds. The engine checkpoints a run before `respond`, after a
tool ran, and at its end (`bot.engine.SAFE_POINTS`).
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs import executor
from graphs.context import Deps
from graphs.nodes.act import act
from graphs.nodes.answer import answer
from graphs.nodes.decide import decide
from graphs.nodes.deliver import (
    output_checks,
    reply,
    route_after_output,
    route_after_reply,
)
from graphs.nodes.handoff import (
    assist_tool,
    escalate,
    package_handoff,
    route_after_wait,
    summarize_handoff,
    wait_for_human,
)
from graphs.nodes.intake import input_checks, receive
from graphs.nodes.orchestrate import orchestrate
from graphs.nodes.rating import take_rating
from graphs.nodes.understand import understand
from graphs.state import ConversationState
from graphs.steps import sequence, stop_if


def route_decision(state: ConversationState) -> str:
    action = state["decision"]["action"]
    if action == "act":
        return "act"
    if action == "escalate":
        return "escalate"
    if action == "queue":  # the customer wrote while waiting for an agent: the package grows
        return "package_handoff"
    return "respond"


def decided(state: ConversationState) -> bool:
    """The input checks settled the turn themselves (a refusal, a request to repeat, a handoff)."""
    return bool((state.get("decision") or {}).get("action"))


def handing_off(state: ConversationState) -> bool:
    """The output checks refused the reply (or the LLM failed) and the policy hands the conversation off."""
    return route_after_output(state) == "escalate"


def route_after_respond(state: ConversationState) -> str:
    return "escalate" if handing_off(state) else route_after_reply(state)


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    executor.install()  # one long-lived thread pool for LangGraph's background work (see graphs/executor.py)
    g = StateGraph(ConversationState, context_schema=Deps)

    g.add_node("intake", sequence(receive, input_checks, stop_if(decided), take_rating, stop_if(decided), understand,
                                  decide, orchestrate))
    g.add_node("act", act)
    g.add_node("escalate", escalate)
    g.add_node("package_handoff", package_handoff)
    g.add_node("respond", sequence(answer, output_checks, stop_if(handing_off), reply))
    g.add_node("summarize_handoff", summarize_handoff)
    g.add_node("wait_for_human", wait_for_human)
    g.add_node("assist_tool", assist_tool)

    g.add_edge(START, "intake")
    g.add_conditional_edges("intake", route_decision, ["act", "escalate", "package_handoff", "respond"])
    g.add_edge("act", "respond")
    g.add_edge("escalate", "package_handoff")
    g.add_edge("package_handoff", "respond")
    g.add_conditional_edges(
        "respond", route_after_respond,
        {"escalate": "escalate", "summarize_handoff": "summarize_handoff", "wait_for_human": "wait_for_human",
         "end": END},
    )
    g.add_edge("summarize_handoff", "wait_for_human")
    g.add_conditional_edges(
        "wait_for_human", route_after_wait,
        {"receive": "intake", "wait_for_human": "wait_for_human", "assist_tool": "assist_tool", "end": END},
    )
    g.add_edge("assist_tool", "wait_for_human")
    return g.compile(checkpointer=checkpointer)
