"""Every LLM call goes through this module, over the `openai` client.

Why a wrapper: the graph needs three things the raw client does not give in one place — retries with backoff that
also cover a stream cut before its first token, pydantic-validated structured output for every decision the LLM takes
part in, and an account of the time spent inside the LLM (so `bot bench` can report the bot's own overhead). Failures
surface as one exception type, :class:`LLMError`, whose message is safe to log and never shown raw to a customer.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import openai
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]

_RETRYABLE = (
    openai.APIConnectionError,  # includes APITimeoutError
    openai.RateLimitError,
    openai.InternalServerError,
    httpx.TransportError,  # a stream cut while reading the first chunk surfaces unwrapped
)


class LLMError(RuntimeError):
    """The LLM could not produce a usable answer after retries. `kind` is a short machine-readable cause."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class LLMUsage:
    """Time and tokens spent inside LLM calls, collected per turn (see :func:`track_usage`)."""

    seconds: float = 0.0
    calls: int = 0
    first_token_s: list[float] = field(default_factory=list)  # per streamed call, from the call's start
    first_token_at: list[float] = field(default_factory=list)  # per streamed call, time.perf_counter() values
    completion_tokens: int = 0


_usage: contextvars.ContextVar[LLMUsage | None] = contextvars.ContextVar("llm_usage", default=None)


def track_usage() -> LLMUsage:
    """Start a fresh usage account for the current context (a turn) and return it."""
    usage = LLMUsage()
    _usage.set(usage)
    return usage


def _account(seconds: float, first_token: float | None = None, tokens: int = 0) -> None:
    usage = _usage.get()
    if usage is not None:
        usage.seconds += seconds
        usage.calls += 1
        usage.completion_tokens += tokens
        if first_token is not None:
            usage.first_token_s.append(first_token)
            usage.first_token_at.append(time.perf_counter() - seconds + first_token)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    """A thin, retrying, accounted client for one OpenAI-compatible endpoint and model."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        seed: int = 7,
        http_client: httpx.Client | None = None,
        name: str | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.name = name or model
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.seed = seed
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            max_retries=0,  # retries are ours, so that they also cover streams
            http_client=http_client,
        )

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _sleep_before_retry(self, attempt: int, exc: Exception) -> None:
        delay = _retry_after(exc)
        if delay is None:
            delay = self.backoff_s * (2 ** (attempt - 1)) * (1 + random.random() * 0.25)
        time.sleep(min(delay, 10.0))

    def _with_retries(self, what: str, call):  # type: ignore[no-untyped-def]
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return call()
            except _RETRYABLE as exc:
                last = exc
                log.warning("llm %s failed (attempt %d/%d): %s", what, attempt, self.max_attempts, type(exc).__name__)
                if attempt < self.max_attempts:
                    self._sleep_before_retry(attempt, exc)
            except openai.APIStatusError as exc:
                raise LLMError(f"LLM endpoint refused the request: HTTP {exc.status_code}", "refused") from None
        kind = "timeout" if isinstance(last, openai.APITimeoutError) else "unavailable"
        raise LLMError(
            f"LLM endpoint {self.base_url} unavailable after {self.max_attempts} attempts ({type(last).__name__})",
            kind,
        ) from None

    def _params(self, max_tokens: int, temperature: float) -> dict:
        return {"model": self.model, "max_tokens": max_tokens, "temperature": temperature, "seed": self.seed}

    # -- public API -------------------------------------------------------------------------------------------
    def stream(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.2) -> Iterator[str]:
        """Yield text deltas. Retries cover failures before the first token; a cut after it raises LLMError."""
        started = time.perf_counter()
        first: float | None = None
        tokens = 0

        def open_stream() -> tuple[Iterator, str | None]:
            response = self._client.chat.completions.create(
                messages=messages, stream=True, **self._params(max_tokens, temperature)  # type: ignore[arg-type]
            )
            iterator = iter(response)
            # Pull until the first text so that a stream cut before any output is retried as a whole.
            for chunk in iterator:
                if chunk.choices and chunk.choices[0].delta.content:
                    return iterator, chunk.choices[0].delta.content
            return iterator, None

        try:
            iterator, head = self._with_retries("stream", open_stream)
            if head is None:
                return
            first = time.perf_counter() - started
            tokens += 1
            yield head
            try:
                for chunk in iterator:
                    if chunk.choices and chunk.choices[0].delta.content:
                        tokens += 1
                        yield chunk.choices[0].delta.content
            except (openai.APIError, httpx.HTTPError) as exc:
                raise LLMError(f"LLM stream was cut after {tokens} chunks ({type(exc).__name__})", "stream_cut") from None
        finally:
            _account(time.perf_counter() - started, first, tokens)

    def complete(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.2) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))

    def structured(self, messages: list[Message], schema: type[T], *, max_tokens: int = 200) -> T:
        """Ask for JSON matching `schema` (json_schema response format) and validate it; one re-ask on bad JSON."""
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True},
        }
        problem = ""
        for _ in range(2):
            started = time.perf_counter()
            try:
                result = self._with_retries(
                    "structured",
                    lambda: self._client.chat.completions.create(
                        messages=messages,  # type: ignore[arg-type]
                        response_format=response_format,  # type: ignore[arg-type]
                        **self._params(max_tokens, 0.0),
                    ),
                )
            finally:
                _account(time.perf_counter() - started)
            content = (result.choices[0].message.content or "").strip() if result.choices else ""
            try:
                return schema.model_validate_json(content)
            except (ValidationError, json.JSONDecodeError) as exc:
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("llm structured output did not validate: %s", problem)
        raise LLMError(f"LLM returned malformed structured output ({problem})", "malformed")
