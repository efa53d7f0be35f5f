"""Working with the AI over HTTP (bot/web/agent.py): the tasks an agent can give it, giving one and taking it back,
knowledge-base lookups, and who acts in the package (operating mode, cohort, the orchestrator, the AI's task)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from tests.graphs.test_modes import _policies
from tests.web.conftest import PASSWORD, handed_off, login

ASK_ORDER = "Could you give me your order number?"  # guardrails/messages.yaml clarify.order_id


def _post(client, conv: str, path: str, csrf: dict[str, str], body: dict | None = None):
    return client.post(f"/api/agent/handoffs/{conv}/{path}", json=body or {}, headers=csrf)


def test_the_tasks_an_agent_can_give_come_from_the_modes_policy(client, engine):
    assert client.get("/api/agent/delegation-tasks").status_code == 401
    login(client)
    tasks = client.get("/api/agent/delegation-tasks").json()["tasks"]
    assert [t["name"] for t in tasks] == sorted(engine.deps.mode_policy().delegation) \
        == ["contact_email", "order_and_email", "order_details"]
    order = next(t for t in tasks if t["name"] == "order_details")
    assert order == {"name": "order_details", "collect": ["order_id"], "collects": "order id", "then": "get_order"}


def test_the_package_says_who_acts(client):
    conv, _ = handed_off(client)
    login(client)
    package = client.get(f"/api/agent/handoffs/{conv}").json()
    assert package["operating_mode"] == "ai_first" and package["cohort"] == "default"
    assert package["delegation"] is None and package["orchestration"] is None and package["holding"] is False


def test_delegate_asks_the_customer_and_the_conversation_comes_back_with_the_result(client, engine):
    conv, auth = handed_off(client)  # a web guest: no order, no e-mail on file
    csrf = login(client)
    given = _post(client, conv, "delegate", csrf, {"task": "order_details"})
    assert given.status_code == 200, given.text
    body = given.json()
    assert body["ok"] and body["status"] == "human" and body["asked"].startswith(ASK_ORDER)
    # a guest's order is only shown to the e-mail it was placed with: the task asks for both
    assert body["delegation"] == dict(body["delegation"], task="order_details", agent="dana",
                                      missing=["order_id", "email"], collecting="order id, email address",
                                      then="get_order")
    package = client.get(f"/api/agent/handoffs/{conv}").json()
    assert package["delegation"]["task"] == "order_details" and package["claimed_by"] == "dana"
    seen = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert seen["messages"][-1]["text"].startswith(ASK_ORDER)  # the customer was asked

    client.post(f"/api/conversations/{conv}/messages", json={"text": "it's A10038"}, headers=auth)
    assert client.get(f"/api/agent/handoffs/{conv}").json()["delegation"]["missing"] == ["email"]
    client.post(f"/api/conversations/{conv}/messages", json={"text": "jordan.lee@example.net"}, headers=auth)
    package = client.get(f"/api/agent/handoffs/{conv}").json()
    assert package["delegation"] is None and package["claimed_by"] == "dana" and package["status"] == "claimed"
    assert [a["tool"] for a in package["actions_taken"]] == ["get_order"]
    assert [a["ok"] for a in package["actions_taken"]] == [True]
    assert package["last_task_event"] == dict(package["last_task_event"], action="delegation_done")
    assert any(e["action"] == "delegation_done" and "A10038" in e["detail"] for e in engine.state(conv)["events"])


def test_take_back_stops_the_task(client):
    conv, _ = handed_off(client)
    csrf = login(client)
    assert _post(client, conv, "delegate", csrf, {"task": "contact_email"}).status_code == 200
    back = _post(client, conv, "take-back", csrf)
    assert back.json() == {"ok": True, "status": "human"}
    assert client.get(f"/api/agent/handoffs/{conv}").json()["delegation"] is None
    again = _post(client, conv, "take-back", csrf)
    assert again.status_code == 409 and again.json() == {"error": f"the AI has no task in conversation {conv}"}


@pytest.mark.parametrize("body, status, fragment", [
    ({"task": "fetch"}, 409, "unknown task 'fetch'; guardrails/modes.yaml delegation has: contact_email, "),
    ({}, 422, "task must be a non-empty string"),
    ({"task": " "}, 422, "task must be a non-empty string"),
    ({"task": ["order_details"]}, 422, "task must be a"),
])
def test_a_bad_task_is_refused(client, body, status, fragment):
    conv, _ = handed_off(client)
    csrf = login(client)
    refused = _post(client, conv, "delegate", csrf, body)
    assert refused.status_code == status and fragment in refused.json()["error"], refused.text
    assert client.get(f"/api/agent/handoffs/{conv}").json()["delegation"] is None


def test_delegate_and_take_back_need_the_csrf_header_and_the_claim(client):
    conv, _ = handed_off(client)
    csrf = login(client)
    for path, body in (("delegate", {"task": "order_details"}), ("take-back", {})):
        for headers in ({}, {"X-CSRF-Token": "wrong"}):
            refused = client.post(f"/api/agent/handoffs/{conv}/{path}", json=body, headers=headers)
            assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    package = client.get(f"/api/agent/handoffs/{conv}").json()
    assert package["delegation"] is None and package["status"] == "waiting"  # nothing happened

    login(client, "sam", PASSWORD + "!")
    sam = {"X-CSRF-Token": client.get("/api/agent/me").json()["csrf_token"]}
    assert _post(client, conv, "delegate", sam, {"task": "order_details"}).status_code == 200
    csrf = login(client)  # dana, in the same browser
    for path, body in (("delegate", {"task": "contact_email"}), ("take-back", {})):
        refused = _post(client, conv, path, csrf, body)
        assert refused.status_code == 409 and "claimed by sam, not dana" in refused.json()["error"]
    assert _post(client, "c-nope", "delegate", csrf, {"task": "order_details"}).status_code == 409
    assert client.get(f"/api/agent/handoffs/{conv}").json()["delegation"]["agent"] == "sam"


def test_kb_lookup_with_a_question_and_by_default_the_customers_last_message(client, engine):
    conv, auth = handed_off(client)
    assert client.get(f"/api/agent/handoffs/{conv}/kb?q=refunds").status_code == 401
    login(client)
    first = client.get(f"/api/agent/handoffs/{conv}/kb")  # the last message: "I want to talk to a human"
    assert first.status_code == 200 and first.json()["query"] is None
    assert "human" in first.json()["passages"][0]["title"].lower()
    nothing = client.get(f"/api/agent/handoffs/{conv}/kb", params={"q": "zqxv plugh"})
    assert nothing.json() == {"query": "zqxv plugh", "passages": []}

    asked = client.get(f"/api/agent/handoffs/{conv}/kb", params={"q": "how long do refunds take?"}).json()
    assert asked["query"] == "how long do refunds take?" and asked["passages"]
    best = asked["passages"][0]
    assert set(best) == {"title", "text", "source", "score"} and "refund" in best["text"].lower()
    assert best["score"] >= engine.deps.kb.threshold

    client.post(f"/api/conversations/{conv}/messages", json={"text": "how long do refunds take?"}, headers=auth)
    default = client.get(f"/api/agent/handoffs/{conv}/kb").json()  # now the customer's question about refunds
    assert default["query"] is None and default["passages"] == asked["passages"]

    assert client.get("/api/agent/handoffs/c-nope/kb?q=refunds").status_code == 404
    too_long = client.get(f"/api/agent/handoffs/{conv}/kb", params={"q": "x" * 2001})
    assert too_long.status_code == 422 and "the limit is 2000" in too_long.json()["error"]


def test_the_package_carries_the_hybrid_orchestrators_reasoning(make_engine, fake_llm, settings, accounts, tmp_path):
    from bot.web.app import create_app

    hybrid = dataclasses.replace(settings, policy_dir=_policies(tmp_path, default="hybrid"))
    engine = make_engine(fake_llm, hybrid)
    with TestClient(create_app(engine, hybrid, accounts), base_url="http://127.0.0.1:8000") as client:
        conv = client.post("/api/conversations", json={}).json()
        auth = {"Authorization": f"Bearer {conv['token']}"}
        turn = client.post(f"/api/conversations/{conv['conversation_id']}/messages", headers=auth,
                           json={"text": "my lamp arrived broken and I am really annoyed"}).json()
        assert turn["handoff"] and turn["handoff_reason"] == "complexity", turn
        login(client)
        package = client.get(f"/api/agent/handoffs/{conv['conversation_id']}").json()
    assert package["operating_mode"] == "hybrid" and package["cohort"] == "default"
    orchestration = package["orchestration"]
    assert orchestration["acts"] == "hold" and orchestration["score"] >= orchestration["threshold"] == 3
    assert "damaged_item" in orchestration["why"] and package["holding"] is True
