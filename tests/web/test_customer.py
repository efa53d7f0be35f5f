"""Customer endpoints (bot/web/customer.py): start, send (JSON and SSE), read, long-poll, and every refusal."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import replace

from fastapi.testclient import TestClient

from tests.web.conftest import handed_off, login, start, web_policy


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_start_gives_an_id_a_token_and_the_greeting(client):
    response = client.post("/api/conversations")
    assert response.status_code == 201
    body = response.json()
    assert body["conversation_id"].startswith("c-") and len(body["token"]) >= 40
    assert body["status"] == "ai" and body["greeting"]


def test_a_message_is_answered_as_json_with_the_contract_fields(client, fake_llm):
    fake_llm.reply = "Refunds reach your card within 5 to 10 business days."
    conv, auth = start(client)
    body = client.post(f"/api/conversations/{conv}/messages", json={"text": "how long do refunds take?"},
                       headers=auth).json()
    for key in ("conversation_id", "reply", "intent", "sentiment", "handoff", "handoff_reason", "blocked"):
        assert key in body
    assert body["conversation_id"] == conv and body["intent"] == "return_refund" and body["status"] == "ai"
    assert body["seq"] == 1 and body["reply"]


def test_the_reply_streams_as_server_sent_events(client, fake_llm):
    fake_llm.reply = "Refunds reach your card within 5 to 10 business days. Anything else I can do?"
    conv, auth = start(client)
    with client.stream("POST", f"/api/conversations/{conv}/messages", json={"text": "how long do refunds take?"},
                       headers=dict(auth, Accept="text/event-stream")) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and kinds.count("text") >= 1
    streamed = "".join(data["text"] for kind, data in events if kind == "text")
    assert streamed.strip() == events[-1][1]["reply"].strip()


def test_history_and_long_poll_show_the_agents_reply(client):
    conv, auth = handed_off(client)
    seen = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert seen["status"] == "human" and seen["handoff"]["status"] == "waiting"
    assert [m["role"] for m in seen["messages"]] == ["customer", "bot"]
    last = seen["messages"][-1]["seq"]

    csrf = login(client)

    def agent_replies() -> None:
        time.sleep(0.5)
        client.post(f"/api/agent/handoffs/{conv}/reply", json={"text": "Hi, Dana here."}, headers=csrf)

    threading.Thread(target=agent_replies).start()
    started = time.monotonic()
    polled = client.get(f"/api/conversations/{conv}/messages", params={"after": last, "wait": 10},
                        headers=auth).json()
    assert time.monotonic() - started < 8  # answered when the reply came, not at the end of the wait
    assert [(m["role"], m["text"], m["agent"]) for m in polled["messages"]] == [("agent", "Hi, Dana here.", "dana")]
    assert polled["handoff"]["status"] == "claimed" and polled["handoff"]["agent"] == "dana"


def test_long_poll_returns_when_the_state_changes_without_a_message(client):
    conv, auth = handed_off(client)
    first = client.get(f"/api/conversations/{conv}/messages", params={"after": 99}, headers=auth).json()
    assert first["messages"] == [] and first["state"] == "human:waiting:-"
    csrf = login(client)
    threading.Timer(0.5, lambda: client.post(f"/api/agent/handoffs/{conv}/claim", headers=csrf)).start()
    polled = client.get(f"/api/conversations/{conv}/messages",
                        params={"after": 99, "wait": 10, "state": first["state"]}, headers=auth).json()
    assert polled["state"] == "human:claimed:dana" and polled["handoff"]["agent"] == "dana"


def test_a_poll_without_news_waits_and_returns_empty(client):
    conv, auth = start(client)
    started = time.monotonic()
    body = client.get(f"/api/conversations/{conv}/messages", params={"after": 5, "wait": 1}, headers=auth).json()
    assert body["messages"] == [] and 0.8 < time.monotonic() - started < 5


def test_another_customers_conversation_cannot_be_read_or_written(client):
    mine, my_auth = start(client)
    theirs, their_auth = start(client)
    client.post(f"/api/conversations/{theirs}/messages", json={"text": "my email is eve@example.com"},
                headers=their_auth)
    for method, path in (("GET", f"/api/conversations/{theirs}"), ("GET", f"/api/conversations/{theirs}/messages"),
                         ("POST", f"/api/conversations/{theirs}/messages")):
        response = client.request(method, path, headers=my_auth, json={"text": "hi"})
        assert response.status_code == 404 and "example.com" not in response.text
    unknown = client.get("/api/conversations/c-000000000000", headers=my_auth)
    assert unknown.status_code == 404 and unknown.json() == client.get(f"/api/conversations/{theirs}",
                                                                       headers=my_auth).json()
    assert client.get(f"/api/conversations/{theirs}").status_code == 401
    assert client.get(f"/api/conversations/{theirs}", headers={"Authorization": "Basic abc"}).status_code == 401
    assert len(client.get(f"/api/conversations/{theirs}", headers=their_auth).json()["messages"]) == 2


def test_bad_messages_get_clear_errors_and_store_nothing(client, engine):
    conv, auth = start(client)
    url = f"/api/conversations/{conv}/messages"
    cases = [
        (dict(content=b'{"text": "hi"', headers=dict(auth, **{"Content-Type": "application/json"})), 400, "malformed"),
        (dict(content=b"[1, 2]", headers=dict(auth, **{"Content-Type": "application/json"})), 400, "object"),
        (dict(content=b"text=hi", headers=dict(auth, **{"Content-Type": "application/x-www-form-urlencoded"})),
         415, "JSON"),
        (dict(json={"text": ""}, headers=auth), 422, "non-empty"),
        (dict(json={"text": "   "}, headers=auth), 422, "non-empty"),
        (dict(json={"text": 42}, headers=auth), 422, "string"),
        (dict(json={"message": "hi"}, headers=auth), 422, "text"),
        (dict(json={"text": "x" * 2001}, headers=auth), 422, "limit is 2000"),
        (dict(content=json.dumps({"text": "x" * 20000}).encode(),
              headers=dict(auth, **{"Content-Type": "application/json"})), 413, "over 16384 bytes"),
    ]
    for kwargs, status, fragment in cases:
        response = client.post(url, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert fragment in response.json()["error"]
    assert engine.db.transcript(conv) == []


def test_a_chunked_body_over_the_limit_is_refused(client):
    conv, auth = start(client)

    def chunks():
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}'

    response = client.post(f"/api/conversations/{conv}/messages", content=chunks(),
                           headers=dict(auth, **{"Content-Type": "application/json"}))
    assert response.status_code == 413 and "over 16384 bytes" in response.json()["error"]


def test_a_closed_conversation_refuses_new_messages(client):
    conv, auth = handed_off(client)
    csrf = login(client)
    assert client.post(f"/api/agent/handoffs/{conv}/resolve", json={}, headers=csrf).status_code == 200
    response = client.post(f"/api/conversations/{conv}/messages", json={"text": "hello?"}, headers=auth)
    assert response.status_code == 409 and "ended" in response.json()["error"]
    assert client.get(f"/api/conversations/{conv}", headers=auth).json()["status"] == "closed"


def test_messages_are_rate_limited_per_conversation(client, engine):
    web_policy(engine, rate_limits={"messages_per_minute": 2})
    conv, auth = start(client)
    codes = [client.post(f"/api/conversations/{conv}/messages", json={"text": "hello"}, headers=auth).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.post(f"/api/conversations/{conv}/messages", json={"text": "hello"}, headers=auth)
    assert int(limited.headers["retry-after"]) > 0 and "too many messages" in limited.json()["error"]
    other, other_auth = start(client)  # another conversation is not affected
    assert client.post(f"/api/conversations/{other}/messages", json={"text": "hi"}, headers=other_auth).is_success


def test_new_conversations_are_rate_limited_per_client(client, engine):
    web_policy(engine, rate_limits={"new_conversations_per_hour": 2})
    assert [client.post("/api/conversations").status_code for _ in range(3)] == [201, 201, 429]


def test_a_signed_in_customer_needs_the_store_sites_signature(engine, accounts, settings):
    from bot.web.app import create_app

    plain = TestClient(create_app(engine, settings, accounts))
    refused = plain.post("/api/conversations", json={"customer_id": "cust-1"})
    assert refused.status_code == 403 and "BOT_WEB_CUSTOMER_SECRET" in refused.json()["error"]

    signed = replace(settings, web_customer_secret="s3cret")
    web = TestClient(create_app(engine, signed, accounts))
    good = hmac.new(b"s3cret", b"cust-1", hashlib.sha256).hexdigest()
    assert web.post("/api/conversations", json={"customer_id": "cust-1", "signature": "0" * 64}).status_code == 403
    assert web.post("/api/conversations", json={"customer_id": "cust-1"}).status_code == 403
    made = web.post("/api/conversations", json={"customer_id": "cust-1", "signature": good})
    assert made.status_code == 201
    assert engine.db.conversation(made.json()["conversation_id"])["customer"]["id"] == "cust-1"
    bad_id = hmac.new(b"s3cret", b"cust-999", hashlib.sha256).hexdigest()
    assert web.post("/api/conversations", json={"customer_id": "cust-999", "signature": bad_id}).status_code == 422
    assert web.post("/api/conversations", json={"language": "english"}).status_code == 422
