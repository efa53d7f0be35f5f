"""act: run the tool the decision named and record what happened.

Two refinements live here because they depend on what the store says: a known customer who did not name an order
gets it picked for them when exactly one order fits the request (otherwise they are asked which one), and a tool
that answers `needs_confirmation` turns the reply into a yes/no question instead of acting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from langgraph.runtime import Runtime

from bot import tools
from graphs.context import Deps
from graphs.nodes.decide import order_tool_call
from graphs.state import ConversationState

# Which of a customer's orders each request can be about, by status.
_FITS = {
    "order_status": {"processing", "shipped", "out_for_delivery", "lost_in_transit"},
    "cancel_order": {"processing"},
    "return_refund": {"delivered"},
    "damaged_item": {"delivered"},
}




def _caller(state: ConversationState, deps: Deps) -> tools.Caller:
    customer = state.get("customer", {})
    if customer.get("known"):
        return tools.Caller(customer_id=customer.get("id"))
    emails = (state.get("facts") or {}).get("emails") or []
    return tools.Caller(email=_reveal(state, deps, emails[-1]) if emails else None)


def _reveal(state: ConversationState, deps: Deps, value: Any) -> Any:
    """The raw value behind a placeholder ([EMAIL-3f9a]), for the tool call only."""
    if deps.vault is None or not isinstance(value, str):
        return value
    return deps.vault.reveal(state["conversation_id"], value)


def _run(state: ConversationState, deps: Deps, caller: tools.Caller, name: str,
         args: dict[str, Any]) -> tools.ToolResult:
    """Run a tool with the real values behind any placeholders; record it with the placeholders and no PII."""
    result = tools.run(name, deps.store, caller, {k: _reveal(state, deps, v) for k, v in args.items()})
    message = result.message
    if deps.vault is not None:
        message = deps.vault.conceal(state["conversation_id"], message)
    return dataclasses.replace(result, args=dict(args), message=message, data=tools.scrub_private(result.data))


def act(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    decision = dict(state["decision"])
    caller = _caller(state, deps)
    results: list[tools.ToolResult] = []
    facts = dict(state.get("facts") or {})

    result = _run(state, deps, caller, decision["tool"], dict(decision["args"]))
    results.append(result)

    pending = decision.get("pending") or {}
    if result.tool == "list_orders" and result.ok and pending.get("slot") == "order_id":
        intent = pending["intent"]
        orders = result.data.get("orders", [])
        fitting = [o for o in orders if o["status"] in _FITS.get(intent, set())]
        if len(fitting) == 1:
            tool, args = order_tool_call(intent, fitting[0]["id"], state["message"])
            result = _run(state, deps, caller, tool, args)
            results.append(result)
            facts["last_order_id"] = fitting[0]["id"]
            decision.update(tool=tool, args=args, pending=None)
        else:
            shown = fitting or orders
            listing = ", ".join(f"{o['id']} ({o['status'].replace('_', ' ')})" for o in shown[:4])
            if shown:
                decision.update(action="clarify", template="clarify.which_order", args={"orders": listing})
            else:
                decision.update(action="clarify", template="clarify.order_id")

    if result.code == "needs_confirmation":
        decision.update(
            action="confirm",
            template=f"confirm.{result.tool}",
            args={**result.args, **{k: v for k, v in result.data.items() if isinstance(v, str)}},
            pending={"kind": "confirm", "tool": result.tool, "args": result.args,
                     "intent": state["understanding"]["intent"]},
        )
    if result.ok and "order_id" in result.args:
        facts["last_order_id"] = result.args["order_id"]

    turn = state["turn"]
    return {
        "decision": decision,
        "pending": decision.get("pending"),
        "facts": facts,
        "tool_results": [r.to_dict() for r in results],
        "actions_taken": [
            {"turn": turn, "tool": r.tool, "args": r.args, "ok": r.ok, "code": r.code, "result": r.message}
            for r in results
            if r.code != "needs_confirmation" and r.tool != "list_orders"
        ],
    }
