"""Every LLM call goes through this module, over the `openai` client.

Why a wrapper: the graph needs three things the raw client does not give in one place — retries with backoff that
also cover a stream cut before its first token, pydantic-validated structured output for every decision the LLM takes
part in, and an account of the time spent inside the LLM (so `bot bench` can report the bot's own overhead). Failures
surface as one exception type, :class:`LLMError`, whose message is safe to log and never shown raw to a customer.

Faults and what the client does with each (the graph decides what the customer then sees, see `graphs/nodes/answer.py`):

| fault | kind | retried |
|---|---|---|
| no connection, connection reset, HTTP 5xx, 408, 409, an `error` event in the stream | `unavailable` | yes |
| a request or a read timing out | `timeout` | yes |
| HTTP 429 | `rate_limited` | yes, after `Retry-After` when given (a longer wait than `max_delay_s`: no) |
| a body or stream chunk that is not the JSON of a completion | `malformed` | yes |
| structured output that is not JSON or does not validate | `malformed` | asked once more |
| a stream that ends (or breaks) before its first text and without finishing | `stream_cut` | yes |
| a stream that breaks, or ends without a `finish_reason`, after text went out | `stream_cut` | no (text was shown) |
| any other HTTP 4xx (400, 401, 403, 404, …) | `refused` | no |

Retries wait `backoff_s * 2**(n-1)` with up to 25 % jitter, or what `Retry-After` asks, never more than `max_delay_s`,
and never past the call's budget (`timeout_s`).
"""

from __future__ import annotations

import contextvars
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import openai
from pydantic import BaseModel, ValidationError

from bot.slots import TURNS

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Message = dict[str, str]

JITTER = 0.25  # a backoff wait is stretched by a random 0..25 %, so that clients that failed together spread out
MIN_ATTEMPT_S = 1.0  # no attempt starts with less of the call's budget left than this


class LLMError(RuntimeError):
    """The LLM could not produce a usable answer after retries. `kind` is a short machine-readable cause.

    `attempts`: requests made; `status`: the last HTTP status, if any; `chunks`: text chunks received before a stream
    broke. :attr:`evidence` says the same in a few words for a person (the handoff package), without the endpoint.
    """

    def __init__(self, message: str, kind: str = "error", *, attempts: int = 1, status: int | None = None,
                 chunks: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts
        self.status = status
        self.chunks = chunks

    @property
    def evidence(self) -> str:
        tries = f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.kind == "stream_cut":
            return f"LLM stream cut after {self.chunks} chunk{'s' if self.chunks != 1 else ''}"
        if self.kind == "refused":
            return f"LLM endpoint refused the request (HTTP {self.status}, not retried)"
        if self.kind == "rate_limited":
            return f"LLM endpoint rate-limited the bot (HTTP 429) {tries}"
        if self.kind == "timeout":
            return f"LLM timed out {tries}"
        if self.kind == "malformed":
            return f"LLM returned malformed output {tries}"
        status = f" (HTTP {self.status})" if self.status else ""
        return f"LLM endpoint unavailable{status} {tries}"


class _Cut(Exception):
    """A stream that ended before its first text without saying it had finished."""


class _Malformed(Exception):
    """A response that parsed as JSON but is not a completion (no choices, wrong types)."""


@dataclass
class LLMUsage:
    """Time and tokens spent inside LLM calls, collected per turn (see :func:`track_usage`)."""

    seconds: float = 0.0
    calls: int = 0
    first_token_s: list[float] = field(default_factory=list)  # per streamed call, from the call's start
    first_token_at: list[float] = field(default_factory=list)  # per streamed call, time.perf_counter() values
    completion_tokens: int = 0  # the server's count where it reports one; a stream's text chunks otherwise
    prompt_tokens: int = 0  # the server's count where it reports one; ~4 characters a token otherwise (ROI costs)


_usage: contextvars.ContextVar[LLMUsage | None] = contextvars.ContextVar("llm_usage", default=None)


def track_usage() -> LLMUsage:
    """Start a fresh usage account for the current context (a turn) and return it."""
    usage = LLMUsage()
    _usage.set(usage)
    return usage


def _account(seconds: float, first_token: float | None = None, tokens: int = 0, prompt_tokens: int = 0) -> None:
    usage = _usage.get()
    if usage is not None:
        usage.seconds += seconds
        usage.calls += 1
        usage.completion_tokens += tokens
        usage.prompt_tokens += prompt_tokens
        if first_token is not None:
            usage.first_token_s.append(first_token)
            usage.first_token_at.append(time.perf_counter() - seconds + first_token)


def _prompt_tokens(messages: list[Any]) -> int:
    """Tokens a prompt is likely to take (~4 characters each) where the server does not say (streams)."""
    return sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, dict)) // 4 + 1


def _retry_after(exc: Exception) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _classify(exc: BaseException) -> tuple[str, bool] | None:
    """(kind, retryable) of an exception raised while talking to the endpoint; None for anything else (a bug)."""
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return "timeout", True
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited", True
    if isinstance(exc, openai.APIStatusError):
        # Like the openai SDK's own rule: 408 (request timeout) and 409 (lock timeout) are worth another try.
        return ("unavailable", True) if exc.status_code >= 500 or exc.status_code in (408, 409) else ("refused", False)
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        return "unavailable", True
    if isinstance(exc, _Cut):
        return "stream_cut", True
    if isinstance(exc, (json.JSONDecodeError, _Malformed, openai.APIResponseValidationError)):
        return "malformed", True
    if isinstance(exc, openai.APIError):  # e.g. an `error` event inside a stream: the server failed mid-way
        return "unavailable", True
    return None


def _delta(chunk: Any) -> tuple[str | None, bool]:
    """(text, finished) of one stream chunk; _Malformed when it is not a completion chunk."""
    try:
        choices = chunk.choices
        if not choices:
            return None, False  # e.g. a usage-only chunk
        choice = choices[0]
        text = choice.delta.content if choice.delta is not None else None
        if text is not None and not isinstance(text, str):
            raise _Malformed(f"delta content is {type(text).__name__}")
        return text or None, bool(choice.finish_reason)
    except (AttributeError, IndexError, TypeError, KeyError) as exc:
        raise _Malformed(f"not a completion chunk ({type(exc).__name__})") from None


class LLMClient:
    """A thin, retrying, accounted client for one OpenAI-compatible endpoint and model.

    Timeouts, chosen for a customer who is waiting for the reply:

    - `timeout_s` (``BOT_LLM_TIMEOUT``, 60 s) is the budget of one *call*, every attempt and backoff wait included:
      no retry starts when the budget would run out first, and each attempt only gets what is left. (It used to be
      per request, so a hung endpoint kept a customer waiting 3 × 60 s before any reply.)
    - `read_timeout_s` (30 s) bounds a *stream's* silence: until its first chunk, and between chunks. Streams are
      what customers wait on. The embedded model's first token takes ~0.1–2 s warm and 5.5 s for a process's first
      request on this 2-core machine under a load of 6 (measured); an uncached 700-token prompt is ~6 s unloaded, so
      30 s of silence means the endpoint is stuck, not slow. A shorter limit risks false `system_error` handoffs on a
      busy CPU; a longer one only delays the apology (the budget caps the whole wait anyway). A flowing stream is
      never cut by the budget: `max_tokens` bounds it.
    - A non-streamed call (structured output) sends nothing until it is done, so its read timeout is the remaining
      budget: the two handoff notes took ~24 s each on the embedded model on this machine under load (measured).
    - `connect_timeout_s` (5 s): an endpoint that does not accept a connection in 5 s is down.

    So a hung endpoint costs the customer at most `timeout_s` before the graceful reply (two attempts of 30 s with
    the defaults); one that refuses connections or answers 5xx costs the backoff waits only (0.5 + 1 s).

    `sleep` and `clock` are injectable so that tests check the waits without waiting.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        read_timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        max_delay_s: float = 10.0,
        seed: int = 7,
        http_client: httpx.Client | None = None,
        name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.name = name or model
        self.max_attempts = max(1, max_attempts)
        self.timeout_s = timeout_s
        self.read_timeout_s = min(read_timeout_s, timeout_s)
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.backoff_s = backoff_s
        self.max_delay_s = max_delay_s
        self.seed = seed
        self._sleep = sleep
        self._clock = clock
        self._random = rng or random.Random()
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=httpx.Timeout(timeout_s, connect=self.connect_timeout_s),  # each request overrides it (_timeout)
            max_retries=0,  # retries are ours, so that they also cover streams
            http_client=http_client,
        )

    # -- plumbing ---------------------------------------------------------------------------------------------
    def backoff(self, attempt: int, exc: Exception | None = None) -> float | None:
        """Seconds to wait after failed attempt number `attempt`; None when the server asks for more than we wait."""
        asked = _retry_after(exc) if exc is not None else None
        if asked is not None:
            return asked if asked <= self.max_delay_s else None
        delay = self.backoff_s * (2 ** (attempt - 1)) * (1 + self._random.random() * JITTER)
        return min(delay, self.max_delay_s)

    def _timeout(self, left: float, stream: bool) -> httpx.Timeout:
        read = min(self.read_timeout_s, left) if stream else left
        return httpx.Timeout(read, connect=min(self.connect_timeout_s, left))

    def _with_retries(self, what: str, call: Callable[[httpx.Timeout], Any], *, stream: bool,
                      attempts: int | None = None, budget_s: float | None = None) -> tuple[Any, int]:
        """(call's result, attempts made); LLMError once the attempts, the budget or the fault's patience run out."""
        attempts = max(1, min(attempts or self.max_attempts, self.max_attempts))
        budget = min(budget_s or self.timeout_s, self.timeout_s)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            left = budget - (self._clock() - started)
            try:
                with TURNS.waiting():  # the request is a wait: other turns compute meanwhile
                    return call(self._timeout(max(left, 0.001), stream)), attempt
            except Exception as exc:  # noqa: BLE001 - classified below; anything unexpected is re-raised
                found = _classify(exc)
                if found is None:
                    raise
                kind, retryable = found
                status = getattr(exc, "status_code", None)
                log.warning("llm %s failed (attempt %d/%d): %s%s", what, attempt, attempts,
                            type(exc).__name__, f" HTTP {status}" if status else "")
                if not retryable:
                    raise LLMError(f"LLM endpoint refused the request: HTTP {status}", kind, attempts=attempt,
                                   status=status) from None
                delay = self.backoff(attempt, exc) if attempt < attempts else None
                spent = self._clock() - started
                if delay is None or spent + delay > budget - MIN_ATTEMPT_S:
                    raise LLMError(
                        f"LLM endpoint {self.base_url} failed after {attempt} attempt(s) in {spent:.1f} s "
                        f"({type(exc).__name__}{f' HTTP {status}' if status else ''})",
                        kind, attempts=attempt, status=status,
                    ) from None
                with TURNS.waiting():
                    self._sleep(delay)

    def _params(self, max_tokens: int, temperature: float) -> dict:
        return {"model": self.model, "max_tokens": max_tokens, "temperature": temperature, "seed": self.seed}

    # -- public API -------------------------------------------------------------------------------------------
    def stream(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.2) -> Iterator[str]:
        """Yield text deltas. Retries cover failures before the first text; a cut after it raises LLMError.

        A stream that ends without a `finish_reason` was cut too (a proxy or server that closed it early): its last
        text may stop mid-sentence, so it is reported rather than passed off as the whole reply.
        """
        started = time.perf_counter()
        first: float | None = None
        chunks = 0
        opened: list[Any] = []

        def open_stream(timeout: httpx.Timeout) -> tuple[Iterator, str | None, bool]:
            response = self._client.chat.completions.create(
                messages=messages, stream=True, timeout=timeout,  # type: ignore[arg-type]
                **self._params(max_tokens, temperature),
            )
            opened.append(response)
            iterator = iter(response)
            # Pull until the first text so that a stream cut before any output is retried as a whole.
            for chunk in iterator:
                text, finished = _delta(chunk)
                if text or finished:
                    return iterator, text, finished
            raise _Cut("the stream ended before any text")

        try:
            (iterator, head, finished), attempts = self._with_retries("stream", open_stream, stream=True)
            if head is None:
                return
            first = time.perf_counter() - started
            chunks += 1
            yield head
            try:
                for chunk in TURNS.each(iterator):
                    text, done = _delta(chunk)
                    finished = finished or done
                    if text:
                        chunks += 1
                        yield text
                if not finished:
                    raise _Cut("the stream ended without a finish_reason")
            except (openai.APIError, httpx.HTTPError, json.JSONDecodeError, _Malformed, _Cut) as exc:
                raise LLMError(f"LLM stream was cut after {chunks} chunks ({type(exc).__name__})", "stream_cut",
                               attempts=attempts, chunks=chunks) from None
        finally:
            for response in opened:  # stop the server generating for nobody when the caller stopped reading
                try:
                    response.close()
                except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do about it
                    pass
            _account(time.perf_counter() - started, first, chunks, _prompt_tokens(messages))

    def complete(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.2) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))

    def structured(self, messages: list[Message], schema: type[T], *, max_tokens: int = 200,
                   attempts: int | None = None, budget_s: float | None = None) -> T:
        """Ask for JSON matching `schema` (json_schema response format) and validate it; one re-ask on bad JSON.

        `attempts` and `budget_s` (each at most the client's own) suit an optional call that nobody should wait long
        for, e.g. an intent vote the classifier can do without.
        """
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True},
        }
        problem = ""
        asked = 0
        for _ in range(2):
            started = time.perf_counter()
            result: Any = None
            try:
                result, attempts = self._with_retries(
                    "structured",
                    lambda timeout: self._client.chat.completions.create(
                        messages=messages,  # type: ignore[arg-type]
                        response_format=response_format,  # type: ignore[arg-type]
                        timeout=timeout,
                        **self._params(max_tokens, 0.0),
                    ),
                    stream=False, attempts=attempts, budget_s=budget_s,
                )
            except LLMError as exc:
                exc.attempts += asked
                raise
            finally:
                used = getattr(result, "usage", None)
                _account(time.perf_counter() - started, None, int(getattr(used, "completion_tokens", 0) or 0),
                         int(getattr(used, "prompt_tokens", 0) or 0) if used is not None else _prompt_tokens(messages))
            asked += attempts
            try:
                choices = getattr(result, "choices", None)  # a proxy's HTML page comes back as a str
                content = (choices[0].message.content or "").strip() if choices else ""
                return schema.model_validate_json(content)
            except (ValidationError, json.JSONDecodeError, AttributeError, TypeError) as exc:
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("llm structured output did not validate: %s", problem)
        raise LLMError(f"LLM returned malformed structured output ({problem})", "malformed", attempts=asked)
