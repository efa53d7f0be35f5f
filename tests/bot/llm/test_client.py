"""LLMClient over a fake endpoint: streaming, structured output, retries, failures as LLMError."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel

from bot.llm import LLMError, track_usage
from bot.llm.client import LLMClient
from tests.fakes import FakeLLM


class Vote(BaseModel):
    intent: str


def test_stream_yields_deltas_and_accounts_time():
    llm = FakeLLM(reply="Your order has shipped. It arrives soon.")
    usage = track_usage()
    chunks = list(llm.client().stream([{"role": "user", "content": "hi"}]))
    assert len(chunks) > 1 and "".join(chunks) == "Your order has shipped. It arrives soon."
    assert usage.calls == 1 and usage.seconds > 0 and usage.first_token_s
    sent = llm.requests[0]
    assert sent["stream"] is True and sent["seed"] == 7 and sent["max_tokens"] == 256


def test_structured_output_validates_and_reasks_once():
    llm = FakeLLM(vote="billing")
    schema = {"intent": "billing"}
    assert llm.client().structured([{"role": "user", "content": "x"}], Vote).intent == schema["intent"]
    bad = FakeLLM(malformed_json=True)
    with pytest.raises(LLMError) as info:
        bad.client().structured([{"role": "user", "content": "x"}], Vote)
    assert info.value.kind == "malformed" and len(bad.requests) == 2


def test_retries_5xx_and_429_then_succeeds():
    for status in (500, 503, 429):
        llm = FakeLLM(reply="ok then", fail_status=status, fail_times=2)
        assert "".join(llm.client(max_attempts=3).stream([{"role": "user", "content": "x"}])) == "ok then"
        assert len(llm.requests) == 3


def test_gives_up_with_llm_error_not_a_stack_trace():
    llm = FakeLLM(fail_status=500)
    with pytest.raises(LLMError) as info:
        list(llm.client(max_attempts=2).stream([{"role": "user", "content": "x"}]))
    assert info.value.kind == "unavailable" and len(llm.requests) == 2


def test_client_errors_are_not_retried():
    llm = FakeLLM(fail_status=401)
    with pytest.raises(LLMError) as info:
        list(llm.client().stream([{"role": "user", "content": "x"}]))
    assert info.value.kind == "refused" and len(llm.requests) == 1


def test_unreachable_endpoint():
    client = LLMClient("http://127.0.0.1:9/v1", "m", timeout_s=2, max_attempts=2, backoff_s=0)
    with pytest.raises(LLMError) as info:
        list(client.stream([{"role": "user", "content": "x"}]))
    assert info.value.kind in ("unavailable", "timeout")


def test_stream_cut_after_first_token_raises():
    body = (b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m",'
            b'"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n')

    class Cut(httpx.SyncByteStream):
        def __iter__(self):
            yield body
            raise httpx.ReadError("connection reset")

    def handler(request):
        return httpx.Response(200, stream=Cut(), headers={"content-type": "text/event-stream"})

    client = LLMClient("http://x/v1", "m", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    got = []
    with pytest.raises(LLMError) as info:
        for chunk in client.stream([{"role": "user", "content": "x"}]):
            got.append(chunk)
    assert got == ["Hello"] and info.value.kind == "stream_cut"
