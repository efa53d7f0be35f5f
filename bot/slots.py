"""Turns take the interpreter one at a time.

A worker runs many customers' turns on threads, but Python runs one thread at a time (the GIL) and hands it round
in 5 ms slices. With twenty turns computing at once each advances at a twentieth of the speed: a turn's ~10 ms of
work is smeared over ~200 ms, and every turn waiting in line slows the others (processor sharing). Letting one turn
compute while the rest queue in arrival order keeps each turn's work together, which is what a customer notices:
with 500 conversations on one worker, `bot bench`'s p95 overhead went from ~100 ms to ~45 ms (README, Performance).
Two slots were measured too (SQLite: p95 ~51 ms; PostgreSQL at 250 conversations: 139 ms against 73 ms with one).

A turn gives its slot back while it waits on something outside the interpreter — the LLM (each call, each streamed
chunk, each back-off), speech synthesis — and takes it again to go on, ahead of turns not yet begun: a turn under
way is one a customer is already waiting on, and it has the least work left. Code outside a turn (the agent desk,
a voice call's audio) never waits for the slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

SLOTS = 1


class Slots:
    def __init__(self, n: int = SLOTS) -> None:
        if n < 1:
            raise ValueError("at least one slot")
        self.n = n
        self._free = n
        self._lock = threading.Lock()
        # Two lines, each first come first served: turns coming back from a wait go before turns not yet begun —
        # a turn under way is the one a customer is already waiting on, and it has the least work left.
        self._returning = threading.Condition(self._lock)
        self._starting = threading.Condition(self._lock)
        self._returning_waiters = 0
        self._mine = threading.local()

    def holding(self) -> bool:
        return getattr(self._mine, "held", False)

    def _take(self, returning: bool) -> None:
        with self._lock:
            if returning:
                self._returning_waiters += 1
                try:
                    while self._free == 0:
                        self._returning.wait()
                finally:
                    self._returning_waiters -= 1
            else:
                while self._free == 0 or self._returning_waiters:
                    self._starting.wait()
            self._free -= 1
        self._mine.held = True

    def _give(self) -> None:
        self._mine.held = False
        with self._lock:
            self._free += 1
            (self._returning if self._returning_waiters else self._starting).notify()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Run the block as a turn: with a slot (re-entrant: a turn that finishes an earlier run keeps its one)."""
        if self.holding():
            yield
            return
        self._take(returning=False)
        try:
            yield
        finally:
            self._give()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait outside the interpreter: the slot serves another turn meanwhile (no-op outside a turn)."""
        if not self.holding():
            yield
            return
        self._give()
        try:
            yield
        finally:
            self._take(returning=True)

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """`items` (a stream arriving over the network) with every wait for the next one done as a `waiting`."""
        iterator = iter(items)
        while True:
            with self.waiting():
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item


TURNS = Slots()  # one per process: the interpreter is one per process
