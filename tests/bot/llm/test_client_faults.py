"""LLMClient's fault handling: the waits it asks for (recorded, not slept), Retry-After, the call's budget, real
timeouts on a socket that never answers, and every malformed or broken response ending in one LLMError."""

from __future__ import annotations

import email.utils
import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import BaseModel

from bot.llm import LLMError
from bot.llm.client import LLMClient

ASK = [{"role": "user", "content": "x"}]
SSE = {"content-type": "text/event-stream"}


class Vote(BaseModel):
    intent: str


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    payload = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


def _client(handler, **kwargs) -> tuple[LLMClient, list[float], list[httpx.Request]]:
    slept: list[float] = []
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    kwargs.setdefault("sleep", slept.append)
    client = LLMClient("http://llm/v1", "m", http_client=httpx.Client(transport=httpx.MockTransport(record)), **kwargs)
    return client, slept, seen


def _fail(code: int, **headers: str):
    return lambda request: httpx.Response(code, json={"error": {"message": "no"}}, headers=headers)


# -- waits ----------------------------------------------------------------------------------------------------------
def test_backoff_is_exponential_with_bounded_jitter():
    client, slept, seen = _client(_fail(500), max_attempts=5, backoff_s=0.5, rng=random.Random(3))
    with pytest.raises(LLMError) as info:
        list(client.stream(ASK))
    assert info.value.kind == "unavailable" and info.value.attempts == 5 and len(seen) == 5
    assert len(slept) == 4
    for n, delay in enumerate(slept):
        assert 0.5 * 2**n <= delay <= 0.5 * 2**n * 1.25
    assert len(set(round(d / 2**n, 6) for n, d in enumerate(slept))) > 1  # jittered, not a fixed ladder


def test_jitter_and_the_cap_bound_every_wait():
    class Highest(random.Random):
        def random(self) -> float:
            return 0.999999

    client, slept, _ = _client(_fail(503), max_attempts=4, backoff_s=3.0, rng=Highest())
    with pytest.raises(LLMError):
        list(client.stream(ASK))
    assert slept == [pytest.approx(3.75, rel=1e-5), pytest.approx(7.5, rel=1e-5), 10.0]  # 15 s capped at 10


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "0.2"}, 0.2),
    ({"retry-after-ms": "150", "retry-after": "9"}, 0.15),
    ({"retry-after": "soon"}, None),  # unreadable: the backoff's own wait
])
def test_retry_after_is_taken_when_present(headers, expected):
    client, slept, _ = _client(_fail(429, **headers), max_attempts=2, backoff_s=0.5)
    with pytest.raises(LLMError) as info:
        list(client.stream(ASK))
    assert info.value.kind == "rate_limited" and info.value.attempts == 2
    if expected is None:
        assert 0.5 <= slept[0] <= 0.625
    else:
        assert slept == [expected]


def test_retry_after_as_an_http_date():
    when = email.utils.formatdate(time.time() + 4, usegmt=True)  # "Wed, 21 Oct 2026 07:28:04 GMT"
    client, slept, _ = _client(_fail(503, **{"retry-after": when}), max_attempts=2)
    with pytest.raises(LLMError):
        list(client.stream(ASK))
    assert 2.0 <= slept[0] <= 4.0


def test_a_retry_after_longer_than_the_cap_ends_the_call_at_once():
    client, slept, seen = _client(_fail(429, **{"retry-after": "30"}), max_delay_s=10)
    with pytest.raises(LLMError) as info:
        list(client.stream(ASK))
    assert len(seen) == 1 and slept == [] and info.value.kind == "rate_limited"
    assert "429" in info.value.evidence


def test_retry_after_really_waits_when_sleep_is_real():
    client, _, seen = _client(_fail(429, **{"retry-after": "0.05"}), max_attempts=2, sleep=time.sleep)
    started = time.perf_counter()
    with pytest.raises(LLMError):
        list(client.stream(ASK))
    assert len(seen) == 2 and time.perf_counter() - started >= 0.05


# -- the call's budget ----------------------------------------------------------------------------------------------
def test_no_retry_starts_after_the_budget_and_each_attempt_gets_what_is_left():
    now = [0.0]

    def slow_failure(request):
        now[0] += 30.0  # every attempt takes 30 s before failing
        return httpx.Response(502, json={})

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client, _, seen = _client(slow_failure, timeout_s=60, backoff_s=0.5, clock=lambda: now[0], sleep=sleep)
    with pytest.raises(LLMError) as info:
        client.structured(ASK, Vote)
    assert len(seen) == 2 and len(slept) == 1 and info.value.attempts == 2  # a third would start after 60 s
    # a non-streamed call waits for the whole response: its read timeout is the budget that is left
    assert seen[0].extensions["timeout"]["read"] == 60
    assert seen[1].extensions["timeout"]["read"] == pytest.approx(60 - 30 - slept[0])


def test_a_stream_waits_at_most_the_read_timeout_for_each_chunk():
    client, _, seen = _client(_fail(500), max_attempts=1, timeout_s=60, read_timeout_s=20, connect_timeout_s=5)
    with pytest.raises(LLMError):
        list(client.stream(ASK))
    assert seen[0].extensions["timeout"] == {"connect": 5, "read": 20, "write": 20, "pool": 20}


class _Silent:
    """A TCP server that reads requests and answers nothing (or, `first`, one chunk and then nothing)."""

    def __init__(self, first: bytes | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.first = first
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            conn.recv(65536)
            if self.first is not None:
                head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                conn.sendall(head + f"{len(self.first):x}\r\n".encode() + self.first + b"\r\n")

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


def test_a_silent_endpoint_times_out_for_real():
    server = _Silent()
    try:
        client = LLMClient(server.url, "m", read_timeout_s=0.3, max_attempts=2, backoff_s=0.01)
        started = time.perf_counter()
        with pytest.raises(LLMError) as info:
            list(client.stream(ASK))
        took = time.perf_counter() - started
    finally:
        server.close()
    assert info.value.kind == "timeout" and info.value.attempts == 2
    assert 0.6 <= took < 3


def test_a_stream_that_stalls_after_its_first_text_is_cut_not_retried():
    server = _Silent(first=_chunk("Hello. "))
    try:
        client = LLMClient(server.url, "m", read_timeout_s=0.3, backoff_s=0.01)
        got: list[str] = []
        started = time.perf_counter()
        with pytest.raises(LLMError) as info:
            for text in client.stream(ASK):
                got.append(text)
        took = time.perf_counter() - started
    finally:
        server.close()
    assert got == ["Hello. "] and info.value.kind == "stream_cut" and info.value.chunks == 1
    assert len(server.connections) == 1 and took < 3


# -- malformed and broken responses -------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "headers", "kind"), [
    (b"data: {not json\n\n", SSE, "malformed"),
    (b'data: {"error": {"message": "model crashed"}}\n\n', SSE, "unavailable"),
    (b'data: {"id": "x", "choices": "nope"}\n\n', SSE, "malformed"),
    (b"<html>502 Bad Gateway</html>", {"content-type": "text/html"}, "stream_cut"),  # no text, never finished
])
def test_broken_streams_before_any_text_are_retried(body, headers, kind):
    client, slept, seen = _client(lambda request: httpx.Response(200, content=body, headers=headers))
    with pytest.raises(LLMError) as info:
        list(client.stream(ASK))
    assert info.value.kind == kind and info.value.attempts == 3 and len(seen) == 3 and len(slept) == 2


def test_a_stream_that_ends_without_finishing_is_cut():
    body = _chunk("Refunds go back to the original ") + _chunk("payment method. They take")
    client, _, seen = _client(lambda request: httpx.Response(200, content=body, headers=SSE))
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        for text in client.stream(ASK):
            got.append(text)
    assert info.value.kind == "stream_cut" and info.value.chunks == 2 and len(seen) == 1
    assert info.value.evidence == "LLM stream cut after 2 chunks"


def test_a_finished_stream_is_whole():
    body = _chunk("Fine. ") + _chunk(None, finish="stop") + b"data: [DONE]\n\n"
    client, _, _ = _client(lambda request: httpx.Response(200, content=body, headers=SSE))
    assert list(client.stream(ASK)) == ["Fine. "]


def test_the_connection_closes_when_the_reader_stops():
    closed: list[bool] = []

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield _chunk("One. ")
            yield _chunk("Two. ")

        def close(self) -> None:
            closed.append(True)

    client, _, _ = _client(lambda request: httpx.Response(200, stream=Body(), headers=SSE))
    stream = client.stream(ASK)
    assert next(stream) == "One. "
    stream.close()
    assert closed


@pytest.mark.parametrize("code", [408, 409, 500, 502, 503, 504])
def test_transient_statuses_are_retried(code):
    client, slept, seen = _client(_fail(code), max_attempts=2)
    with pytest.raises(LLMError) as info:
        list(client.stream(ASK))
    assert len(seen) == 2 and info.value.kind == "unavailable" and info.value.status == code


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_other_client_errors_are_refused_at_once(code):
    client, slept, seen = _client(_fail(code))
    with pytest.raises(LLMError) as info:
        client.structured(ASK, Vote)
    assert len(seen) == 1 and slept == [] and info.value.kind == "refused" and info.value.status == code


def test_structured_output_that_is_not_a_completion():
    json_type, html_type = {"content-type": "application/json"}, {"content-type": "text/html"}
    garbled, _, seen = _client(lambda r: httpx.Response(200, content=b"{oops", headers=json_type))
    with pytest.raises(LLMError) as info:
        garbled.structured(ASK, Vote)
    assert info.value.kind == "malformed" and len(seen) == 3  # a garbled body is retried like a transport fault
    html, _, seen = _client(lambda r: httpx.Response(200, content=b"<html>hi</html>", headers=html_type))
    with pytest.raises(LLMError) as info:
        html.structured(ASK, Vote)
    assert info.value.kind == "malformed" and info.value.attempts == 2 and len(seen) == 2  # asked once more


def test_an_optional_call_can_ask_for_fewer_attempts_and_a_shorter_budget():
    client, slept, seen = _client(_fail(503), max_attempts=3)
    with pytest.raises(LLMError) as info:
        client.structured(ASK, Vote, attempts=1)
    assert len(seen) == 1 and slept == [] and info.value.attempts == 1
    client, _, seen = _client(_fail(503), timeout_s=60)
    with pytest.raises(LLMError):
        client.structured(ASK, Vote, budget_s=5)
    assert seen[0].extensions["timeout"]["read"] == pytest.approx(5, abs=0.1)  # non-streamed: read = the budget
