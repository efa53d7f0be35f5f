"""The whole conversation flow in one builder.

    receive → input_checks ─┬─ understand → decide ─┬─ act ──────────────────────────────┐
                            │                       ├─ escalate → package_handoff ─────────┤
                            │                       ├─ (waiting for an agent) package_handoff ┤  (the package grows)
                            │                       └──────────────────────────────────────┤
                            ├─ (blocked) ──────────────────────────────────────────────────┴→ answer → output_checks
                            └─ (blocked, policy hands off) → escalate
    output_checks ─┬─ reply
                   └─ (a reply the rails refused twice, or the LLM could not write: policy hands off) → escalate
    reply ─┬─ (mode ai) → END
           └─ (mode human) → [summarize_handoff, once per handoff] → wait_for_human ─┬─ customer wrote → receive
                                                                                    ├─ agent replied  → wait_for_human
                                                                                    ├─ agent's tool → assist_tool ↺
                                                                                    └─ resolved / handed back → END

One invocation is one customer turn (or one agent event). Every node is a plain function over
:class:`~graphs.state.ConversationState`; side effects come in through :class:`~graphs.context.Deps`.
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
from graphs.nodes.deliver import output_checks, reply, route_after_output, route_after_reply
from graphs.nodes.handoff import (
    assist_tool,
    escalate,
    package_handoff,
    route_after_wait,
    summarize_handoff,
    wait_for_human,
)
from graphs.nodes.intake import input_checks, receive, route_after_input
from graphs.nodes.understand import understand
from graphs.state import ConversationState


def route_decision(state: ConversationState) -> str:
    action = state["decision"]["action"]
    if action == "act":
        return "act"
    if action == "escalate":
        return "escalate"
    if action == "queue":  # the customer wrote while waiting for an agent: the package grows
        return "package_handoff"
    return "answer"


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    executor.install()  # one long-lived thread pool for LangGraph's background work (see graphs/executor.py)
    g = StateGraph(ConversationState, context_schema=Deps)

    g.add_node("receive", receive)
    g.add_node("input_checks", input_checks)
    g.add_node("understand", understand)
    g.add_node("decide", decide)
    g.add_node("act", act)
    g.add_node("escalate", escalate)
    g.add_node("package_handoff", package_handoff)
    g.add_node("answer", answer)
    g.add_node("output_checks", output_checks)
    g.add_node("reply", reply)
    g.add_node("summarize_handoff", summarize_handoff)
    g.add_node("wait_for_human", wait_for_human)
    g.add_node("assist_tool", assist_tool)

    g.add_edge(START, "receive")
    g.add_edge("receive", "input_checks")
    g.add_conditional_edges("input_checks", route_after_input, ["understand", "answer", "escalate"])
    g.add_edge("understand", "decide")
    g.add_conditional_edges("decide", route_decision, ["act", "escalate", "package_handoff", "answer"])
    g.add_edge("act", "answer")
    g.add_edge("escalate", "package_handoff")
    g.add_edge("package_handoff", "answer")
    g.add_edge("answer", "output_checks")
    g.add_conditional_edges("output_checks", route_after_output, ["reply", "escalate"])
    g.add_conditional_edges("reply", route_after_reply,
                            {"summarize_handoff": "summarize_handoff", "wait_for_human": "wait_for_human", "end": END})
    g.add_edge("summarize_handoff", "wait_for_human")
    g.add_conditional_edges(
        "wait_for_human", route_after_wait,
        {"receive": "receive", "wait_for_human": "wait_for_human", "assist_tool": "assist_tool", "end": END},
    )
    g.add_edge("assist_tool", "wait_for_human")
    return g.compile(checkpointer=checkpointer)
