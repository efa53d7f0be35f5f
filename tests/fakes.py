"""A fake OpenAI-compatible LLM on `httpx.MockTransport`: the real `openai` client, the real LLMClient, no server.

`FakeLLM` answers streamed chat completions with `reply` (split into small deltas, as a server would) and
structured (json_schema) requests with `vote`. It records every request, can fail on purpose (status codes, cut
streams, malformed JSON) and counts calls, so tests can assert on what the bot actually sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.llm import LLMClient


def _sse(chunks: list[str]) -> bytes:
    out = []
    for text in chunks:
        payload = {
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
        out.append(f"data: {json.dumps(payload)}\n\n")
    done = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    out.append(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n")
    return "".join(out).encode()


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@dataclass
class FakeLLM:
    reply: str | Callable[[list[dict[str, str]]], str] = "Happy to help."
    vote: str | Callable[[list[dict[str, str]], list[str]], str] | None = None  # None: the first candidate
    fail_status: int | None = None  # answer every request with this HTTP status
    fail_times: int = 0  # ... only the first N requests
    malformed_json: bool = False
    # handoff notes (bot/summary.py): what the LLM answers to the summary and draft-reply JSON requests
    summary: str | Callable[[list[dict[str, str]]], str] = "The customer needs a person to help with their request."
    draft: str | Callable[[list[dict[str, str]]], str] = "Hello, I'm taking over from the assistant. How can I help?"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.fail_status and (self.fail_times == 0 or len(self.requests) <= self.fail_times):
            return httpx.Response(self.fail_status, json={"error": {"message": "fake failure"}},
                                  headers={"retry-after": "0"})
        messages = body["messages"]
        if "response_format" in body:
            schema = body["response_format"]["json_schema"]["schema"]
            if self.malformed_json:
                return httpx.Response(200, json=_completion("{not json"))
            for key, answer in (("summary", self.summary), ("reply", self.draft)):
                if key in schema["properties"]:
                    text = answer(messages) if callable(answer) else answer
                    return httpx.Response(200, json=_completion(json.dumps({key: text})))
            candidates = schema["properties"]["intent"].get("enum") or [schema["properties"]["intent"].get("const")]
            choice = self.vote(messages, candidates) if callable(self.vote) else (self.vote or candidates[0])
            return httpx.Response(200, json=_completion(json.dumps({"intent": choice})))
        text = self.reply(messages) if callable(self.reply) else self.reply
        if body.get("stream"):
            deltas = re.findall(r"\S+\s*", text)
            return httpx.Response(200, content=_sse(deltas), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=_completion(text))

    def client(self, **kwargs: Any) -> LLMClient:
        transport = httpx.MockTransport(self.handler)
        kwargs.setdefault("backoff_s", 0.0)
        return LLMClient("http://fake-llm/v1", "fake", "key", http_client=httpx.Client(transport=transport), **kwargs)

    @property
    def stream_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("stream")]

    @property
    def vote_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "response_format" in r]


def facts_of(messages: list[dict[str, str]]) -> str:
    """The FACTS block of the last user message (what the bot gave the LLM to answer from)."""
    content = messages[-1]["content"]
    return content.split("TASK:")[0]
