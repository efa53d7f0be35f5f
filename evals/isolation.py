"""One fresh demo store per replayed conversation.

Replays change the store (a cancelled order stays cancelled), and conversations run in parallel: with one shared
store, whether "cancel A10003" succeeds would depend on which conversation ran first. Each replay therefore gets its
own store, an in-memory copy of one freshly seeded store (0.1 ms), selected through a context variable by the thread that runs
the conversation; the graph's nodes run inline in that thread, so they see the right one.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Iterator

from bot.store.demo import DemoStore

_current: contextvars.ContextVar[DemoStore | None] = contextvars.ContextVar("eval_store", default=None)


class IsolatedStores:
    """A `Backend` that forwards every call to the store of the conversation being replayed."""

    def __init__(self) -> None:
        self._template: DemoStore | None = None

    def __getattr__(self, name: str) -> Any:
        store = _current.get()
        if store is None:
            raise RuntimeError("no store selected: wrap the replay in IsolatedStores.fresh()")
        return getattr(store, name)

    @contextmanager
    def fresh(self) -> Iterator[DemoStore]:
        if self._template is None:
            self._template = DemoStore(":memory:")  # seeded once; every conversation gets a copy
        store = self._template.copy()
        token = _current.set(store)
        try:
            yield store
        finally:
            _current.reset(token)
            store.close()
