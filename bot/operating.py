"""Who acts in a handed-off conversation, as the desk's front ends show it (`bot agent show`, the console): the
operating mode and cohort it started in (guardrails/modes.yaml), the orchestrator's last reasoning, whether the AI
is holding the customer until an agent takes it, and the task an agent gave the AI. Read from the conversation's
state (`Engine.state`), so `bot.desk.View` stays the package as it was made.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ITEMS", "collecting", "snapshot", "task_list"]

ITEMS = {"order_id": "order id", "email": "email address"}  # what the AI collects, in words for an agent


def snapshot(state: dict[str, Any], status: str | None) -> dict[str, Any]:
    """`operating_mode`, `cohort`, `orchestration` (or None), `delegation` (or None: the task, its items, those still
    missing, and those in words: `collecting`) and `holding` (hybrid, queued, nobody has taken it yet: the AI keeps
    the customer company)."""
    from graphs import delegation as tasks

    cohort = state.get("cohort") or {}
    handoff = state.get("handoff") or {}
    task = state.get("delegation") or None
    if task:
        collect = list(task.get("collect") or [])
        try:
            missing = tasks.missing(state, collect, task.get("then"))  # type: ignore[arg-type]
        except ValueError:  # an item this version does not know: say everything is still wanted
            missing = collect
        task = dict(task, collect=collect, missing=missing or collect)
        task["collecting"] = collecting(task)
    return {
        "operating_mode": cohort.get("mode") or handoff.get("operating_mode") or "ai_first",
        "cohort": cohort.get("name") or "default",
        "orchestration": state.get("orchestration") or None,
        "delegation": task,
        "holding": bool(handoff.get("holding")) and not task and state.get("mode") == "human" and status == "waiting",
        "last_task_event": last_task_event(state),
    }


TASK_EVENTS = ("delegate", "delegation_done", "delegation_stopped", "take_back")


def last_task_event(state: dict[str, Any]) -> dict[str, Any] | None:
    """The latest event of the AI's tasks ({action, detail, turn}): a front end says "the AI finished its task" from
    the conversation itself, not from having watched the task end."""
    for event in reversed(state.get("events") or []):
        if event.get("rail") == "handoff" and event.get("action") in TASK_EVENTS:
            return {"action": event["action"], "detail": event.get("detail", ""), "turn": event.get("turn")}
    return None


def task_list(policy: Any) -> list[dict[str, Any]]:
    """guardrails/modes.yaml `delegation`: each task's name, what it collects (ids and words) and the tool it runs."""
    return [{"name": name, "collect": list(task.collect), "collects": ", ".join(ITEMS.get(i, i) for i in task.collect),
             "then": task.then}
            for name, task in sorted(policy.delegation.items())]


def collecting(task: dict[str, Any]) -> str:
    """'order id, email address': what the AI is still asking the customer for."""
    return ", ".join(ITEMS.get(i, i.replace("_", " ")) for i in task.get("missing") or task.get("collect") or [])
