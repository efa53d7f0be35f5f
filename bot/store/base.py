"""The store interface: what the bot's tools may ask of a retail backend (CRM, order system, ticketing).

Everything here is plain data plus one :class:`Backend` protocol. :class:`bot.store.demo.DemoStore` implements it on
SQLite for demos and tests; a real CRM adapter implements the same protocol and the bot does not change.

Conventions every implementation follows:

* ``customer_id=None`` means a guest. A guest proves an order is theirs by giving the order's email address.
* Actions never raise for business refusals; they return an :class:`ActionResult` whose ``message`` is one or two
  short factual English sentences that the bot may relay verbatim, and whose ``code`` is machine-readable (see
  :data:`RESULT_CODES`). Messages never contain an email address, a phone number or another customer's data.
* A refusal never reveals details of an order the caller is not authorised to see: the ``data`` of a refusal holds at
  most the (canonical) order id the caller supplied and the order's status when that is needed to explain the refusal
  to the owner.
* Order ids are ``A`` followed by five digits (``A10007``); implementations accept small variations (``a10007``,
  ``#A10007``) and answer ``not_found`` for anything else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from bot.taxonomy import Tier

OrderStatus = Literal[
    "processing",  # paid (card authorised), not yet shipped: can be cancelled, address can be changed
    "shipped",  # handed to the carrier, has a tracking number; "delayed" when eta < today
    "out_for_delivery",
    "delivered",
    "cancelled",
    "returned",  # a return was received and refunded
    "lost_in_transit",  # the carrier lost it: an agent arranges a replacement or refund
]
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)

#: Statuses in which the parcel is with the carrier.
IN_TRANSIT: frozenset[str] = frozenset({"shipped", "out_for_delivery"})

ReturnStatus = Literal["awaiting_item", "received", "refunded", "replaced", "rejected"]
RETURN_STATUSES: tuple[str, ...] = get_args(ReturnStatus)

#: Every ``ActionResult.code`` a backend may answer, with its meaning. Tools branch on these, never on messages.
RESULT_CODES: dict[str, str] = {
    # successes (ok=True)
    "found": "the order is returned in data['order']",
    "cancelled": "the order was cancelled; data['order'] is the updated order",
    "return_created": "a return was opened; data['return'] is the ReturnRequest",
    "reset_sent": "neutral answer to a password reset request (sent only if the account exists)",
    "address_updated": "the customer's address changed; data lists the orders updated and not updated",
    "unchanged": "nothing to do (e.g. the new address equals the current one)",
    # refusals (ok=False)
    "not_found": "no such order / customer (or a malformed order id)",
    "not_yours": "the order exists but does not belong to this customer, or the guest's email does not match",
    "verification_needed": "a guest must give the order's email address (or sign in) first",
    "not_cancellable": "the order has left the warehouse (or is delivered, returned, lost); data['status'] says which",
    "already_cancelled": "the order was already cancelled",
    "not_delivered": "a return needs a delivered order; data['status'] says where it is",
    "not_returnable": "nothing in the order can be returned (cancelled order, or only non-returnable items)",
    "outside_return_window": "delivered too long ago for a return (30 days, 60 for damaged/defective items)",
    "already_returned": "a return is already open or completed for this order",
    "invalid_email": "the text given is not an email address",
    "invalid_address": "the new address is empty, too short, too long or has no house number/postcode",
}


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dates and containers → plain JSON-serialisable values (for tool messages and logs)."""
    return _jsonable(value)


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str
    phone: str
    tier: Tier
    language: str  # ISO 639-1 code: "en", "de", "es", ...
    address: str  # one line: "12 Oak Street, Springfield, IL 62704, USA"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name: str
    quantity: int
    unit_price: float

    @property
    def line_total(self) -> float:
        return round(self.quantity * self.unit_price, 2)


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str | None  # None: guest checkout
    email: str
    status: OrderStatus
    placed_at: datetime
    items: tuple[OrderItem, ...]
    total: float  # items + shipping_cost
    currency: str  # ISO 4217
    carrier: str | None  # set once shipped
    tracking_number: str | None
    eta: date | None  # expected delivery date (None once delivered/cancelled)
    delivered_at: date | None
    shipping_address: str
    shipping_cost: float = 0.0  # extension: part of `total`, refunded only for damaged/defective items

    @property
    def subtotal(self) -> float:
        return round(sum(item.line_total for item in self.items), 2)

    def is_delayed(self, today: date) -> bool:
        """In transit and past its expected delivery date."""
        return self.status in IN_TRANSIT and self.eta is not None and self.eta < today

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass(frozen=True)
class ReturnRequest:
    id: str  # "R" + 5 digits
    order_id: str
    reason: str
    status: ReturnStatus
    created_at: datetime
    refund_amount: float  # what will be refunded once the item is received and inspected
    label_id: str  # prepaid return label
    damaged: bool = False  # extension: damaged/defective items (replacement or refund, 60-day window)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str  # "electronics", "home", "clothing", "gift cards"
    price: float
    colors: tuple[str, ...]
    in_stock: int  # units available; 0 = out of stock (truthiness works as "in stock?")
    description: str
    returnable: bool = True  # extension: False for gift cards (see the KB's non-returnable items)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    code: str  # one of RESULT_CODES
    message: str  # short factual English the bot may relay verbatim
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@runtime_checkable
class Backend(Protocol):
    """What the bot may ask of a retail backend. ``customer_id=None`` means a guest.

    Authorisation (get_order, cancel_order, start_return): the order belongs to ``customer_id``, or ``email``
    equals the order's email (case-insensitive; this is how guests verify). Otherwise the answer is ``not_found``,
    ``not_yours`` or ``verification_needed`` and carries no order details.
    """

    def get_customer(self, customer_id: str | None) -> Customer | None: ...

    def find_customer_by_email(self, email: str) -> Customer | None: ...

    def list_customers(self) -> list[Customer]: ...

    def get_order(self, order_id: str, *, customer_id: str | None = None, email: str | None = None) -> ActionResult:
        """``ok`` with ``data={"order": Order, "delayed": bool, ...}`` when authorised."""
        ...

    def list_orders(self, customer_id: str, limit: int = 5) -> list[Order]:
        """The customer's orders, most recent first."""
        ...

    def cancel_order(
        self, order_id: str, *, customer_id: str | None = None, email: str | None = None
    ) -> ActionResult:
        """Only ``processing`` orders can be cancelled; in transit → ``not_cancellable`` (suggests a return)."""
        ...

    def start_return(
        self,
        order_id: str,
        reason: str,
        *,
        damaged: bool = False,
        customer_id: str | None = None,
        email: str | None = None,
    ) -> ActionResult:
        """Open a return with a prepaid label: 30 days from delivery, 60 for damaged/defective items.

        The refund is promised on receipt and inspection, never reported as already issued.
        """
        ...

    def returns_for_order(self, order_id: str) -> list[ReturnRequest]: ...

    def send_password_reset(self, email: str) -> ActionResult:
        """Email a reset link to the address on file. Same answer whether or not the account exists."""
        ...

    def update_address(self, customer_id: str | None, new_address: str) -> ActionResult:
        """Change the customer's address and the shipping address of their ``processing`` orders."""
        ...

    def search_products(self, query: str, limit: int = 3) -> list[Product]: ...
