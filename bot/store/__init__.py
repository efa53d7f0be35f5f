"""The retail backend behind the bot's tools: the :class:`Backend` protocol, the SQLite :class:`DemoStore`, and the
policy :class:`KnowledgeBase`. A real CRM/ticketing adapter implements :class:`Backend`; nothing else changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.store.base import (
    ORDER_STATUSES,
    RESULT_CODES,
    RETURN_STATUSES,
    ActionResult,
    Backend,
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ReturnRequest,
    to_jsonable,
)
from bot.store.demo import DEMO_TODAY, DemoStore, canonical_order_id

if TYPE_CHECKING:
    from bot.store.kb import SCORE_THRESHOLD, KnowledgeBase, Passage, default_kb

__all__ = [
    "DEMO_TODAY",
    "ORDER_STATUSES",
    "RESULT_CODES",
    "RETURN_STATUSES",
    "SCORE_THRESHOLD",
    "ActionResult",
    "Backend",
    "Customer",
    "DemoStore",
    "KnowledgeBase",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Passage",
    "Product",
    "ReturnRequest",
    "canonical_order_id",
    "default_kb",
    "open_store",
    "to_jsonable",
]


def open_store(path: Path | str, *, today: date | None = None) -> DemoStore:
    """Open (creating and seeding on first use) the demo store at `path`, e.g. ``Settings.store_path``."""
    return DemoStore(Path(path), today=today)


def __getattr__(name: str):  # the KB pulls in scikit-learn: import it only when asked for
    if name in ("KnowledgeBase", "Passage", "SCORE_THRESHOLD", "default_kb"):
        from bot.store import kb

        return getattr(kb, name)
    raise AttributeError(f"module 'bot.store' has no attribute {name!r}")
