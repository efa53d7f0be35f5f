"""Several nodes run as one LangGraph step.

Every LangGraph step costs about a millisecond of bookkeeping and a checkpoint write, whatever the node does; the
deterministic nodes at the front and back of a turn (receive, the input checks, understanding, the decision; the
output checks and the transcript line) take a fraction of that each. Running them as one step keeps their functions
separate and testable, keeps the checkpoints recovery needs (after the message is taken in, before the LLM writes)
and made a turn cheaper (see the README's Performance section).

A sequence behaves as the same nodes joined by edges would: each node sees the state with the earlier nodes'
updates applied (a field with a reducer through it, as LangGraph would; the rest replaced), and the step's update
is all of them together. A `stop_if(predicate)` between two nodes is the conditional edge that would have left the chain
there: when the predicate holds, the nodes after it are skipped (the graph's routing after the step takes over).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Callable

from langgraph.runtime import Runtime

from graphs.context import Deps
from graphs.state import ConversationState

Node = Callable[[ConversationState, Runtime[Deps]], dict[str, Any]]


def _reducers() -> dict[str, Callable[[Any, Any], Any]]:
    """The state fields with a reducer (`Annotated[list, operator.add]`) and the reducer LangGraph applies to them."""
    hints = typing.get_type_hints(ConversationState, include_extras=True)
    return {name: hint.__metadata__[0] for name, hint in hints.items() if getattr(hint, "__metadata__", None)}


REDUCERS = _reducers()


@dataclass(frozen=True)
class Stop:
    predicate: Callable[[ConversationState], bool]


def stop_if(predicate: Callable[[ConversationState], bool]) -> Stop:
    return Stop(predicate)


def sequence(*parts: Node | Stop) -> Node:
    """One node that runs the nodes among `parts` in order, as if joined by edges, ending at a `stop_if` that holds."""

    def step(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
        view: dict[str, Any] = dict(state)
        update: dict[str, Any] = {}
        for part in parts:
            if isinstance(part, Stop):
                if part.predicate(view):  # type: ignore[arg-type]
                    break
                continue
            for key, value in part(view, runtime).items():  # type: ignore[arg-type]
                reduce = REDUCERS.get(key)
                if reduce is None:
                    view[key] = update[key] = value
                else:  # as LangGraph would: into the state, and into what this step reports
                    view[key] = reduce(view[key], value) if key in view else value
                    update[key] = reduce(update[key], value) if key in update else value
        return update

    nodes = [part.__name__ for part in parts if not isinstance(part, Stop)]
    step.__name__ = "_".join(nodes)
    step.__doc__ = " → ".join(nodes)
    return step
