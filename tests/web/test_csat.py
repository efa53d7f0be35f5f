"""CSAT over the customer API (bot/web/customer.py): the `csat_asked` flag on a turn, the conversation and the long
poll; a rating sent as a message (also to a conversation an agent closed); `POST …/end` and its proxy; the token."""

from __future__ import annotations

import threading
import time

from tests.web.conftest import handed_off, login, start
from tests.web.test_customer import sse_events


def say(client, conv, auth, text, **extra):
    response = client.post(f"/api/conversations/{conv}/messages", json=dict(extra, text=text), headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def stored(engine, conv):
    record = engine.db.conversation(conv)
    return record["csat"], record["csat_source"]


def test_goodbye_flags_the_question_and_a_4_is_stored(client, engine):
    messages = engine.deps.policies.messages
    conv, auth = start(client)
    first = say(client, conv, auth, "where is my order A10002?")
    assert first["csat_asked"] is False
    bye = say(client, conv, auth, "thanks, that's all, bye")
    assert bye["csat_asked"] is True and bye["reply"].endswith(messages.get("csat.ask"))
    assert client.get(f"/api/conversations/{conv}", headers=auth).json()["csat_asked"] is True  # a reloaded page
    assert stored(engine, conv) == (None, None)

    rated = say(client, conv, auth, "4")
    assert rated["reply"] == messages.get("csat.thanks", score=4) and rated["csat_asked"] is False
    assert stored(engine, conv) == (4.0, "customer")
    seen = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert seen["csat_asked"] is False
    assert [(m["role"], m["text"]) for m in seen["messages"][-2:]] == [("customer", "4"), ("bot", rated["reply"])]
    assert client.post(f"/api/conversations/{conv}/end", headers=auth).json() == {"csat": None}  # rated: kept
    assert stored(engine, conv) == (4.0, "customer")


def test_the_streamed_done_event_carries_the_flag(client):
    conv, auth = start(client)
    with client.stream("POST", f"/api/conversations/{conv}/messages", json={"text": "ok bye"},
                       headers=dict(auth, Accept="text/event-stream")) as response:
        events = sse_events(response.read().decode())
    kind, done = events[-1]
    assert kind == "done" and done["csat_asked"] is True and done["intent"] == "goodbye"


def test_another_message_instead_of_a_rating_clears_the_flag(client, engine):
    conv, auth = start(client)
    assert say(client, conv, auth, "bye")["csat_asked"] is True
    other = say(client, conv, auth, "wait, where is my order A10002?")
    assert other["csat_asked"] is False and "A10002" in other["reply"]
    assert client.get(f"/api/conversations/{conv}", headers=auth).json()["csat_asked"] is False
    assert stored(engine, conv)[1] == "proxy"


def test_end_stores_the_proxy_when_the_customer_did_not_rate(client, engine):
    conv, auth = start(client)
    say(client, conv, auth, "where is my order A10002?")
    say(client, conv, auth, "bye")
    response = client.post(f"/api/conversations/{conv}/end", headers=auth)
    assert response.status_code == 200
    proxy = response.json()["csat"]
    assert isinstance(proxy, float) and 1 <= proxy <= 5
    assert stored(engine, conv) == (proxy, "proxy")
    say(client, conv, auth, "5")  # a rating after all: the customer's replaces the proxy
    assert stored(engine, conv) == (5.0, "customer")

    silent, silent_auth = start(client)  # nothing said: nothing to estimate
    assert client.post(f"/api/conversations/{silent}/end", headers=silent_auth).json() == {"csat": None}


def test_end_needs_the_conversations_token_like_the_other_endpoints(client, engine):
    mine, my_auth = start(client)
    theirs, their_auth = start(client)
    say(client, theirs, their_auth, "where is my order A10002?")
    wrong = client.post(f"/api/conversations/{theirs}/end", headers=my_auth)
    reference = client.get(f"/api/conversations/{theirs}", headers=my_auth)
    assert wrong.status_code == reference.status_code == 404 and wrong.json() == reference.json()
    unknown = client.post("/api/conversations/c-000000000000/end", headers=my_auth)
    assert unknown.status_code == 404 and unknown.json() == wrong.json()
    assert client.post(f"/api/conversations/{theirs}/end").status_code == 401
    assert client.post(f"/api/conversations/{theirs}/end", headers={"Authorization": "Bearer nope"}).status_code == 404
    assert stored(engine, theirs) == (None, None)  # none of that ended it


def test_after_a_resolve_the_poll_flags_the_question_and_the_closed_conversation_takes_the_rating(client, engine):
    messages = engine.deps.policies.messages
    conv, auth = handed_off(client)
    last = client.get(f"/api/conversations/{conv}", headers=auth).json()["messages"][-1]["seq"]
    csrf = login(client)
    assert client.post(f"/api/agent/handoffs/{conv}/claim", json={}, headers=csrf).status_code == 200

    def agent_resolves() -> None:
        time.sleep(0.5)
        client.post(f"/api/agent/handoffs/{conv}/resolve", json={}, headers=csrf)

    threading.Thread(target=agent_resolves).start()
    polled = client.get(f"/api/conversations/{conv}/messages", params={"after": last, "wait": 10},
                        headers=auth).json()
    deadline = time.monotonic() + 10
    while polled["status"] != "closed" and time.monotonic() < deadline:  # the claim may have answered first
        polled = client.get(f"/api/conversations/{conv}/messages",
                            params={"after": polled["messages"][-1]["seq"] if polled["messages"] else last,
                                    "wait": 5, "state": polled["state"]}, headers=auth).json()
    assert polled["status"] == "closed" and polled["csat_asked"] is True
    notice = client.get(f"/api/conversations/{conv}", headers=auth).json()["messages"][-1]
    assert notice["role"] == "system" and notice["text"].endswith(messages.get("csat.ask"))

    refused = client.post(f"/api/conversations/{conv}/messages", json={"text": "hello?"}, headers=auth)
    assert refused.status_code == 409  # closed: only the answer to the question gets in
    rated = say(client, conv, auth, "five", message_id="rating-msg-0001")
    assert rated["reply"] == messages.get("csat.thanks", score=5) and rated["status"] == "closed"
    assert stored(engine, conv) == (5.0, "customer") and engine.state(conv)["mode"] == "closed"
    lines = len(engine.db.transcript(conv))
    again = say(client, conv, auth, "five", message_id="rating-msg-0001")  # a retry: answered once, not refused
    assert again["reply"] == rated["reply"] and len(engine.db.transcript(conv)) == lines
    second = client.post(f"/api/conversations/{conv}/messages", json={"text": "4"}, headers=auth)
    assert second.status_code == 409  # answered: closed for good
    assert stored(engine, conv) == (5.0, "customer")
    assert client.get(f"/api/conversations/{conv}", headers=auth).json()["csat_asked"] is False
