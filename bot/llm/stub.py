"""A stub LLM: the LLMClient interface, answered instantly in-process (or after a fixed delay).

For measuring everything *except* the LLM: eval throughput (`eval_turns_per_s`), concurrency with a simulated
latency, and quick replays in development (`bot eval --llm stub`). Its replies are deterministic and built only from
the facts in the prompt, so they pass the grounding check the way a well-behaved model would.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any, TypeVar, get_args

from pydantic import BaseModel

from bot.llm.client import _account
from bot.slots import TURNS

T = TypeVar("T", bound=BaseModel)

_FACTS = re.compile(r"^FACTS: (.*)$", re.MULTILINE)


class StubLLM:
    name = "stub (no model)"
    base_url = "stub://"
    model = "stub"

    def __init__(self, latency_s: float | None = None) -> None:
        """`latency_s` per call; default from `BOT_STUB_LATENCY_MS` (load tests of `bot serve --llm stub`), else 0."""
        if latency_s is None:
            value = os.environ.get("BOT_STUB_LATENCY_MS", "").strip() or "0"
            try:
                latency_s = max(0.0, float(value) / 1000)
            except ValueError:
                raise ValueError(f"BOT_STUB_LATENCY_MS={value!r} is not a number of milliseconds") from None
        self.latency_s = latency_s

    def _reply(self, messages: list[dict[str, str]]) -> str:
        match = _FACTS.search(messages[-1]["content"])
        if not match or match.group(1).strip() == "none.":
            return "Hello! How can I help you today?"
        first = re.split(r"(?<=[.!?])\s+", match.group(1).strip(), maxsplit=1)[0]
        return f"Here is what I found. {first}"

    def stream(self, messages: list[dict[str, str]], **_: Any) -> Iterator[str]:
        started = time.perf_counter()
        if self.latency_s:
            with TURNS.waiting():
                time.sleep(self.latency_s)
        first = time.perf_counter() - started
        text = self._reply(messages)
        try:
            yield from re.findall(r"\S+\s*", text)
        finally:
            _account(time.perf_counter() - started, first, len(text.split()))

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        return "".join(self.stream(messages, **kwargs))

    def structured(self, messages: list[dict[str, str]], schema: type[T], **_: Any) -> T:
        started = time.perf_counter()
        if self.latency_s:
            with TURNS.waiting():
                time.sleep(self.latency_s)
        values = {}
        for name, info in schema.model_fields.items():
            options = get_args(info.annotation)
            values[name] = options[0] if options else ""
        _account(time.perf_counter() - started)
        return schema.model_validate(values)
