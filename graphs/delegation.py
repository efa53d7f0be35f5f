"""Work an agent hands the AI (guardrails/modes.yaml `delegation`): collect items from the customer, then give back.

The hybrid guide's example: "a human might start the conversation, then delegate a data-gathering subtask to the
AI". The agent keeps the conversation (it stays in the queue, claimed by them); the AI asks the customer for each
missing item, runs the task's tool once it has them all, records the results with the actions taken, and says the
agent will be right back. The agent can take the conversation back at any moment, or simply reply.
"""

from __future__ import annotations

from typing import Any

from graphs.state import ConversationState

QUESTIONS = {"order_id": "clarify.order_id", "email": "clarify.email"}  # guardrails/messages.yaml keys


def value(slot: str, state: ConversationState) -> str | None:
    """The item as the conversation has it now (this turn's mention first), or None."""
    facts = state.get("facts") or {}
    entities = (state.get("understanding") or {}).get("entities") or {}
    if slot == "order_id":
        found = entities.get("order_ids") or []
        return found[-1] if found else facts.get("last_order_id")
    if slot == "email":
        customer = state.get("customer") or {}
        if customer.get("known") and customer.get("email"):
            return customer["email"]
        emails = entities.get("emails") or facts.get("emails") or []
        return emails[-1] if emails else None
    raise ValueError(f"unknown delegation item {slot!r}")


def needed(state: ConversationState, collect: list[str], then: str | None = None) -> list[str]:
    """What the task collects; a guest's order is only shown to the e-mail it was placed with, so a task that looks
    an order up for a guest also collects their e-mail."""
    guest = not (state.get("customer") or {}).get("known")
    return list(collect) + (["email"] if then and guest and "email" not in collect else [])


def missing(state: ConversationState, collect: list[str], then: str | None = None) -> list[str]:
    return [slot for slot in needed(state, collect, then) if not value(slot, state)]


def task_record(name: str, task: Any, agent: str, turn: int) -> dict[str, Any]:
    """The `delegation` state of a task given by `agent` (a `bot.modes.DelegationTask`)."""
    return {"task": name, "collect": list(task.collect), "then": task.then, "agent": agent, "turn": turn}
