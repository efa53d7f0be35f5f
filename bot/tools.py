"""The tools the bot may run, each a small function over the store interface.

The graph never calls the store directly: it names a tool and its arguments in its decision, and `act` runs it here.
That keeps a record of every action (name, arguments, result) for the handoff package and the audit trail, and it
is the one place to swap the demo store for a real CRM or ticketing backend. A tool never raises for a business
outcome (an order that cannot be cancelled is a result, not an error); `message` is a factual sentence the reply
is built from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.store.base import ActionResult, Backend, to_jsonable


@dataclass(frozen=True)
class Caller:
    """Who the tool acts for: a known customer, or a guest who proved an email address."""

    customer_id: str | None = None
    email: str | None = None


@dataclass
class ToolResult:
    tool: str
    args: dict[str, Any]
    ok: bool
    code: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "args": self.args,
            "ok": self.ok,
            "code": self.code,
            "message": self.message,
            "data": self.data,
        }


# Personal data the store returns with a record (the customer's own e-mail, phone, address): no reply needs it and
# conversation state is stored, so it is dropped before a result enters the state.
PRIVATE_KEYS = frozenset({"email", "phone", "address", "shipping_address", "billing_address"})


def scrub_private(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[redacted]" if k in PRIVATE_KEYS and v else scrub_private(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_private(v) for v in value]
    return value


def _result(tool: str, args: dict[str, Any], r: ActionResult) -> ToolResult:
    return ToolResult(tool, args, r.ok, r.code, r.message, to_jsonable(r.data))  # JSON-able: state is serialised


def get_order(store: Backend, caller: Caller, order_id: str) -> ToolResult:
    args = {"order_id": order_id}
    return _result("get_order", args, store.get_order(order_id, customer_id=caller.customer_id, email=caller.email))


def cancel_order(store: Backend, caller: Caller, order_id: str, confirmed: bool = True) -> ToolResult:
    """Cancel an order. Unconfirmed: only check; a cancellable order comes back as `needs_confirmation`."""
    args = {"order_id": order_id, "confirmed": confirmed}
    if not confirmed:
        look = store.get_order(order_id, customer_id=caller.customer_id, email=caller.email)
        if not look.ok:
            return _result("cancel_order", args, look)
        order = look.data["order"]
        if order.status == "processing":
            items = ", ".join(f"{i.quantity} x {i.name}" for i in order.items)
            return ToolResult(
                "cancel_order", args, True, "needs_confirmation",
                f"Order {order.id} ({items}) is still processing and can be cancelled.",
                {"order": to_jsonable(order), "items": items},
            )
    return _result(
        "cancel_order", args, store.cancel_order(order_id, customer_id=caller.customer_id, email=caller.email)
    )


def start_return(store: Backend, caller: Caller, order_id: str, reason: str, damaged: bool = False) -> ToolResult:
    args = {"order_id": order_id, "reason": reason, "damaged": damaged}
    r = store.start_return(order_id, reason, damaged=damaged, customer_id=caller.customer_id, email=caller.email)
    return _result("start_return", args, r)


def send_password_reset(store: Backend, caller: Caller, email: str) -> ToolResult:
    return _result("send_password_reset", {"email": email}, store.send_password_reset(email))


def update_address(store: Backend, caller: Caller, new_address: str) -> ToolResult:
    args = {"new_address": new_address}
    if not caller.customer_id:
        return ToolResult(
            "update_address", args, False, "verification_needed",
            "Addresses can only be changed for a signed-in customer.",
        )
    return _result("update_address", args, store.update_address(caller.customer_id, new_address))


def list_orders(store: Backend, caller: Caller, limit: int = 5) -> ToolResult:
    if not caller.customer_id:
        return ToolResult("list_orders", {}, False, "verification_needed", "No customer account is known.")
    orders = store.list_orders(caller.customer_id, limit=limit)
    summary = ", ".join(f"{o.id} ({o.status.replace('_', ' ')})" for o in orders) or "no orders"
    return ToolResult(
        "list_orders", {"limit": limit}, True, "listed", f"Recent orders: {summary}.",
        {"orders": [to_jsonable(o) for o in orders]},
    )


def product_line(product: dict[str, Any]) -> str:
    """One catalogue entry as a factual sentence (the product answers lead with it)."""
    stock = "in stock" if product.get("in_stock") else "out of stock"
    colours = f", colours: {', '.join(product['colors'])}" if product.get("colors") else ""
    return f"{product['name']} ({product['sku']}): ${product['price']:.2f}, {stock}{colours}. {product['description']}"


def search_products(store: Backend, caller: Caller, query: str) -> ToolResult:
    products = store.search_products(query, limit=3)
    if not products:
        return ToolResult("search_products", {"query": query}, False, "not_found", "No matching product was found.")
    plain = [to_jsonable(p) for p in products]
    lines = [product_line(p) for p in plain]
    return ToolResult(
        "search_products", {"query": query}, True, "found", " ".join(lines), {"products": plain}
    )


TOOLS: dict[str, Callable[..., ToolResult]] = {
    "get_order": get_order,
    "cancel_order": cancel_order,
    "start_return": start_return,
    "send_password_reset": send_password_reset,
    "update_address": update_address,
    "list_orders": list_orders,
    "search_products": search_products,
}


def run(name: str, store: Backend, caller: Caller, args: dict[str, Any]) -> ToolResult:
    """Run tool `name`; an unexpected backend exception becomes a failed result (code `backend_error`)."""
    tool = TOOLS.get(name)
    if tool is None:
        return ToolResult(name, args, False, "unknown_tool", f"No tool named {name}.")
    try:
        return tool(store, caller, **args)
    except Exception as exc:  # a backend outage must not crash the conversation
        return ToolResult(name, args, False, "backend_error", f"The {name} system is not responding ({type(exc).__name__}).")
