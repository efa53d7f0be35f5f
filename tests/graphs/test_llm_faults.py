"""LLM faults end to end: the real LLMClient over `httpx.MockTransport`, wired into a real engine and graph.

One test per fault kind (timeout, HTTP 429 with Retry-After, HTTP 5xx, a refused 4xx, malformed output, a stream cut
after text reached the customer). Each checks what the customer actually got: the attempts made and the waits asked
for between them, the reply text (as streamed and as stored), the `system_error` handoff in the same turn, the one
queued package and its evidence, and a transcript with every message once. Backoff waits are recorded, not slept,
except Retry-After (a real 50 ms wait).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.llm import LLMClient
from tests.fakes import FakeLLM

REFUND = "how long do refunds take?"  # the classifier is sure (no vote); the reply is written by the LLM
APOLOGY = "Sorry, I'm having a technical problem and can't answer this myself right now."
CUT_APOLOGY = "Sorry, a technical problem cut my answer short."
NOTICE = "I'm connecting you with a member of our support team."
SSE = {"content-type": "text/event-stream"}

Fault = Callable[[httpx.Request], httpx.Response]


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    payload = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


def status(code: int, **headers: str) -> Fault:
    return lambda request: httpx.Response(code, json={"error": {"message": f"fake {code}"}}, headers=headers)


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out waiting for the first byte", request=request)


def not_json(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"data: {this is not json\n\n", headers=SSE)


def cut_after(deltas: list[str], clean: bool = False) -> Fault:
    """A stream that sends `deltas` and then breaks (connection reset) or, `clean`, just ends without finishing."""

    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for text in deltas:
                yield _chunk(text)
            if not clean:
                raise httpx.ReadError("connection reset by peer")

    return lambda request: httpx.Response(200, stream=Broken(), headers=SSE)


class Endpoint:
    """An OpenAI-compatible endpoint: the first `times` stream requests get `fault` (all of them when None), the
    rest — and every structured request (vote, handoff notes) — a well-behaved FakeLLM, unless `outage`."""

    def __init__(self, fault: Fault | None, times: int | None = None, *, outage: bool = False,
                 reply: str = "Refunds go back to the original payment method.", vote: Any = None,
                 real_sleep: bool = False) -> None:
        self.fault, self.times, self.outage = fault, times, outage
        self.fake = FakeLLM(reply=reply, vote=vote)
        self.requests: list[dict[str, Any]] = []
        self.sleeps: list[float] = []
        self.real_sleep = real_sleep

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(dict(body, timeout=request.extensions.get("timeout")))
        streams = len(self.streams)
        faulty = body.get("stream") and (self.times is None or streams <= self.times)
        if self.fault is not None and (faulty or (self.outage and not body.get("stream"))):
            return self.fault(request)
        return self.fake.handler(request)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.real_sleep:
            time.sleep(seconds)

    def client(self) -> LLMClient:  # what `make_engine` calls
        return LLMClient("http://fake-llm/v1", "fake", "key", backoff_s=0.5, sleep=self.sleep,
                         http_client=httpx.Client(transport=httpx.MockTransport(self.handler)))

    @property
    def streams(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("stream")]

    @property
    def structured(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "response_format" in r]


def _turn(engine, text: str = REFUND, customer: str | None = "cust-1", conv: str | None = None):
    conv = conv or engine.start(customer)
    shown: list[str] = []
    result = engine.turn(conv, text, on_text=shown.append)
    return conv, result, "".join(shown)


def _packages(engine, conv: str) -> list[dict[str, Any]]:
    entries = engine.queue.entries(("waiting", "claimed", "resolved", "returned"))
    return [e.package for e in entries if e.package["conversation_id"] == conv]


def _handed_off(engine, conv: str, result, shown: str, *, evidence: str) -> dict[str, Any]:
    """The checks every exhausted fault shares; returns the queued package."""
    assert result.handoff and result.handoff_reason == "system_error" and result.mode == "human"
    assert " ".join(shown.split()) == result.reply  # what was streamed is the whole reply, nothing twice
    assert NOTICE in result.reply and "will see this whole conversation" in result.reply
    assert "Traceback" not in result.reply and "HTTP" not in result.reply and "fake-llm" not in result.reply
    [package] = _packages(engine, conv)
    assert package["reason"] == "system_error" and evidence in package["evidence"]
    assert engine.queue.get(conv).package["reason"] == "system_error"
    transcript = engine.db.transcript(conv)
    assert [(t["role"], t["text"]) for t in transcript] == [("customer", REFUND), ("bot", result.reply)]
    assert engine.waiting_for_human(conv)
    return package


def _backoff(sleeps: list[float], base: float = 0.5) -> None:
    """Exponential waits with at most 25 % jitter: base, 2 × base, ..."""
    for n, delay in enumerate(sleeps):
        assert base * 2**n <= delay <= base * 2**n * 1.25, sleeps


# -- one test per fault ---------------------------------------------------------------------------------------------
def test_timeout_retries_with_backoff_then_apologises_and_hands_off(make_engine):
    endpoint = Endpoint(timeout, outage=True)
    engine = make_engine(endpoint)
    conv, result, shown = _turn(engine)
    assert len(endpoint.streams) == 3
    _backoff(endpoint.sleeps[:2])
    # a stream gets the stall limit per read, within the call's budget; connecting is limited to 5 s
    assert endpoint.streams[0]["timeout"] == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}
    assert result.reply.startswith(APOLOGY)
    package = _handed_off(engine, conv, result, shown, evidence="LLM timed out after 3 attempts")
    assert package["priority"] in ("high", "urgent")
    assert engine.state(conv)["llm_failures"] == 1


def test_429_honours_retry_after_then_hands_off(make_engine):
    endpoint = Endpoint(status(429, **{"retry-after": "0.05"}), real_sleep=True)
    engine = make_engine(endpoint)
    conv = engine.start("cust-1")
    started = time.perf_counter()
    conv, result, shown = _turn(engine, conv=conv)
    assert len(endpoint.streams) == 3
    assert endpoint.sleeps[:2] == [0.05, 0.05]  # the server's wait, not the backoff's 0.5 s and 1 s
    assert time.perf_counter() - started >= 0.1
    assert result.reply.startswith(APOLOGY)
    _handed_off(engine, conv, result, shown, evidence="rate-limited the bot (HTTP 429) after 3 attempts")


def test_5xx_retries_with_exponential_backoff_then_hands_off(make_engine):
    endpoint = Endpoint(status(503))
    engine = make_engine(endpoint)
    conv, result, shown = _turn(engine)
    assert len(endpoint.streams) == 3 and len(endpoint.sleeps) == 2
    _backoff(endpoint.sleeps)
    assert result.reply.startswith(APOLOGY)
    _handed_off(engine, conv, result, shown, evidence="unavailable (HTTP 503) after 3 attempts")


@pytest.mark.parametrize("code", [400, 401])
def test_refused_request_is_not_retried_and_hands_off(make_engine, code):
    endpoint = Endpoint(status(code))
    engine = make_engine(endpoint)
    conv, result, shown = _turn(engine)
    assert len(endpoint.streams) == 1 and endpoint.sleeps == []
    assert result.reply.startswith(APOLOGY)
    _handed_off(engine, conv, result, shown, evidence=f"refused the request (HTTP {code}, not retried)")


def test_malformed_stream_is_retried_then_hands_off(make_engine):
    endpoint = Endpoint(not_json)
    engine = make_engine(endpoint)
    conv, result, shown = _turn(engine)
    assert len(endpoint.streams) == 3
    _backoff(endpoint.sleeps)
    assert result.reply.startswith(APOLOGY)
    _handed_off(engine, conv, result, shown, evidence="malformed output after 3 attempts")


def test_malformed_vote_never_hands_off(make_engine):
    """The LLM's intent vote is optional: when its JSON is bad (asked twice), the classifier decides alone."""
    llm = FakeLLM(malformed_json=True)
    engine = make_engine(llm)
    conv, result, shown = _turn(engine, "hmm the thing from last week")
    assert len(llm.vote_requests) == 2  # asked once more, then done without it
    assert not result.handoff and result.reply == " ".join(shown.split())
    state = engine.state(conv)
    assert state["understanding"]["source"] == "classifier" and not state.get("llm_failures")
    assert _packages(engine, conv) == []


@pytest.mark.parametrize("clean", [False, True], ids=["connection-reset", "ended-without-finishing"])
def test_stream_cut_mid_reply_keeps_what_was_shown_then_apologises(make_engine, clean):
    deltas = ["Refunds go back ", "to the original payment method. ", "They are usually ", "processed within "]
    endpoint = Endpoint(cut_after(deltas, clean=clean))
    engine = make_engine(endpoint)
    conv, result, shown = _turn(engine)
    assert len(endpoint.streams) == 1 and endpoint.sleeps == []  # text was shown: a retry would say it twice
    seen = "Refunds go back to the original payment method."
    assert result.reply.startswith(f"{seen} {CUT_APOLOGY} {NOTICE}")
    assert result.reply.count(seen) == 1 and "processed within" not in result.reply  # the cut sentence never went out
    package = _handed_off(engine, conv, result, shown, evidence="LLM stream cut after 4 chunks")
    assert "the customer had seen 1 sentence" in package["evidence"]


# -- around the faults ----------------------------------------------------------------------------------------------
def test_one_5xx_then_success_is_a_normal_answer(make_engine):
    endpoint = Endpoint(status(500), times=1)
    engine = make_engine(endpoint)
    conv, result, shown = _turn(engine)
    assert len(endpoint.streams) == 2 and len(endpoint.sleeps) == 1
    _backoff(endpoint.sleeps)
    assert result.reply == "Refunds go back to the original payment method." == " ".join(shown.split())
    assert not result.handoff and _packages(engine, conv) == []
    assert engine.state(conv)["llm_failures"] == 0
    assert [t["role"] for t in engine.db.transcript(conv)] == ["customer", "bot"]


def test_the_threshold_is_policy(make_engine, policies):
    """`system_error.after_llm_failures: 2`: the first failed reply is said from the facts, the second hands off."""
    rule = policies.escalation.system_error.model_copy(update={"after_llm_failures": 2})
    lenient = policies.model_copy(update={"escalation": policies.escalation.model_copy(update={"system_error": rule})})
    endpoint = Endpoint(status(500))
    engine = make_engine(endpoint, policies=lenient)
    conv, first, _ = _turn(engine)
    assert not first.handoff and "original payment method" in first.reply and APOLOGY not in first.reply
    assert engine.turn(conv, "where is my order A10002").reply.startswith("Order A10002")  # tools need no LLM
    _, second, shown = _turn(engine, "what payment methods do you accept?", conv=conv)
    assert second.handoff and second.handoff_reason == "system_error" and second.reply.startswith(APOLOGY)
    assert len(endpoint.streams) == 6
    [package] = _packages(engine, conv)
    assert package["reason"] == "system_error"


def test_the_notice_is_not_translated_by_the_llm_that_just_failed(make_engine):
    """A customer writing German to an endpoint that speaks every language: the LLM would write the notice too."""
    endpoint = Endpoint(status(502))
    engine = make_engine(endpoint, llm_languages=("*",))
    text = "Wie lange dauert es, bis ich mein Geld für eine Rücksendung zurückbekomme?"
    conv, result, shown = _turn(engine, text)
    assert engine.state(conv)["understanding"]["language"] == "de"
    assert len(endpoint.streams) == 3  # the reply's three attempts, and no fourth for the notice
    assert result.handoff_reason == "system_error" and result.reply.startswith(APOLOGY)
    assert " ".join(shown.split()) == result.reply


def test_after_a_hand_back_the_bot_answers_again(make_engine):
    from bot.desk import Desk

    endpoint = Endpoint(status(500), times=3)
    engine = make_engine(endpoint)
    conv, result, _ = _turn(engine)
    assert result.handoff_reason == "system_error"
    desk = Desk(engine)
    desk.claim(conv, "sam")
    desk.hand_back(conv, "sam", "the assistant is working again")
    _, again, _ = _turn(engine, conv=conv)
    assert not again.handoff and again.reply == "Refunds go back to the original payment method."
    assert engine.state(conv)["llm_failures"] == 0


def test_the_policy_is_validated_at_start_up(tmp_path):
    import shutil

    from bot.config import PROJECT_ROOT
    from bot.policy import PolicyError, load_policies

    directory = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "guardrails", directory)
    assert load_policies(directory).escalation.system_error.after_llm_failures == 1
    escalation = directory / "escalation.yaml"
    escalation.write_text(escalation.read_text().replace("after_llm_failures: 1", "after_llm_failures: 0"))
    with pytest.raises(PolicyError, match=r"escalation.yaml: system_error.after_llm_failures"):
        load_policies(directory)
    escalation.write_text(escalation.read_text().replace("after_llm_failures: 0", "after_llm_failures: 1"))
    messages = directory / "messages.yaml"
    messages.write_text(messages.read_text().replace("  llm_cut:", "  llm_cut_typo:"))
    with pytest.raises(PolicyError, match="fallback.llm_cut"):  # said when the LLM is down: checked before
        load_policies(directory)
