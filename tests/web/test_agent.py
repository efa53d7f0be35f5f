"""Agent endpoints (bot/web/agent.py): login, sessions and CSRF, API tokens, the queue, the package and every desk
action over HTTP, with the refusals an agent can meet."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, handed_off, login, start


def test_login_sets_an_httponly_strict_cookie_and_me_returns_the_csrf_token(client):
    response = client.post("/api/agent/login", json={"name": "Dana", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    body = response.json()
    assert body["agent"] == "dana" and body["skills"] == ["billing"] and body["csrf_token"]
    assert PASSWORD not in response.text
    me = client.get("/api/agent/me").json()
    assert me["agent"] == "dana" and me["csrf_token"] == body["csrf_token"]


def test_wrong_passwords_and_unknown_names_get_the_same_answer(client):
    for name, password in (("dana", "wrong password"), ("nobody", PASSWORD), ("sam", PASSWORD)):
        response = client.post("/api/agent/login", json={"name": name, "password": password})
        assert response.status_code == 401 and response.json() == {"error": "wrong name or password"}
    for body in ({"name": "dana"}, {"name": 3, "password": "x"}, {}):
        assert client.post("/api/agent/login", json=body).status_code == 422


def test_failed_logins_are_limited_and_the_right_password_then_waits_too(client):
    codes = [client.post("/api/agent/login", json={"name": "dana", "password": f"guess {i}"}).status_code
             for i in range(11)]
    assert codes == [401] * 10 + [429]
    locked = client.post("/api/agent/login", json={"name": "dana", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


def test_the_console_api_refuses_anyone_not_logged_in(client):
    conv, _ = handed_off(client)
    for method, path in (("GET", "/api/agent/me"), ("GET", "/api/agent/queue"), ("GET", f"/api/agent/handoffs/{conv}"),
                         ("POST", f"/api/agent/handoffs/{conv}/claim"), ("POST", f"/api/agent/handoffs/{conv}/reply"),
                         ("POST", f"/api/agent/handoffs/{conv}/resolve"), ("POST", "/api/agent/logout")):
        response = client.request(method, path, json={"text": "hi"})
        assert response.status_code == 401, (method, path, response.text)
    client.cookies.set("bot_agent_session", "forged-value")
    assert client.get("/api/agent/queue").status_code == 401


def test_a_customer_token_is_not_an_agent_credential(client):
    conv, auth = handed_off(client)
    assert client.get("/api/agent/queue", headers=auth).status_code == 401
    assert client.post(f"/api/agent/handoffs/{conv}/reply", json={"text": "x"}, headers=auth).status_code == 401


def test_changes_need_the_csrf_header(client):
    conv, _ = handed_off(client)
    csrf = login(client)
    assert client.get("/api/agent/queue").status_code == 200  # reading needs no CSRF token
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        response = client.post(f"/api/agent/handoffs/{conv}/claim", headers=headers)
        assert response.status_code == 403 and "X-CSRF-Token" in response.json()["error"]
    assert client.post(f"/api/agent/handoffs/{conv}/claim", headers=csrf).status_code == 200


def test_logout_ends_the_session(client):
    csrf = login(client)
    assert client.post("/api/agent/logout", headers=csrf).status_code == 204
    assert client.get("/api/agent/me").status_code == 401


def test_an_api_token_works_without_cookie_or_csrf_and_can_be_revoked(client, accounts):
    conv, _ = handed_off(client)
    token = accounts.new_token("sam")
    auth = {"Authorization": f"Bearer {token}"}
    queue = client.get("/api/agent/queue", headers=auth).json()["handoffs"]
    assert [h["conversation_id"] for h in queue] == [conv]
    assert client.post(f"/api/agent/handoffs/{conv}/claim", headers=auth).json()["claimed_by"] == "sam"
    assert token not in (accounts.path.read_text())
    accounts.remove("sam")
    assert client.get("/api/agent/queue", headers=auth).status_code == 401
    assert client.get("/api/agent/queue", headers={"Authorization": "Bearer agt_made-up"}).status_code == 401


def test_queue_lists_waiting_and_claimed_handoffs_most_urgent_first(client):
    first, _ = handed_off(client)
    second, auth = start(client)
    client.post(f"/api/conversations/{second}/messages", json={"text": "someone used my card without permission, "
                                                                       "this is fraud"}, headers=auth)
    csrf = login(client)
    client.post(f"/api/agent/handoffs/{first}/claim", headers=csrf)
    rows = client.get("/api/agent/queue").json()["handoffs"]
    assert [r["conversation_id"] for r in rows] == [second, first]
    assert rows[0]["priority"] == "urgent" and rows[0]["reason"] == "high_stakes" and rows[0]["status"] == "waiting"
    assert rows[1]["status"] == "claimed" and rows[1]["claimed_by"] == "dana"
    assert "transcript" not in rows[0] and isinstance(rows[0]["waiting_minutes"], float)


def test_the_package_has_everything_an_agent_reads(client):
    conv, _ = handed_off(client)
    login(client)
    package = client.get(f"/api/agent/handoffs/{conv}").json()
    for key in ("summary", "suggested_actions", "suggested_reply", "facts", "actions_taken", "transcript",
                "sentiment_trail", "customer", "reason", "priority", "intent", "status", "mode"):
        assert key in package, key
    assert package["channel"] == "web" and package["mode"] == "human"
    assert [t["role"] for t in package["transcript"]] == ["customer", "bot"]
    assert client.get("/api/agent/handoffs/c-unknown").status_code == 404


def test_reply_reaches_the_customer_and_resolve_closes_the_conversation(client):
    conv, auth = handed_off(client)
    csrf = login(client)
    sent = client.post(f"/api/agent/handoffs/{conv}/reply", json={"text": "Hi, Dana here. Let me look."},
                       headers=csrf)
    assert sent.json() == {"ok": True, "status": "human"}
    messages = client.get(f"/api/conversations/{conv}", headers=auth).json()["messages"]
    assert messages[-1]["role"] == "agent" and messages[-1]["text"] == "Hi, Dana here. Let me look."
    done = client.post(f"/api/agent/handoffs/{conv}/resolve", json={"note": "answered"}, headers=csrf)
    assert done.json() == {"ok": True, "status": "closed"}
    assert client.get(f"/api/conversations/{conv}", headers=auth).json()["status"] == "closed"
    again = client.post(f"/api/agent/handoffs/{conv}/reply", json={"text": "one more"}, headers=csrf)
    assert again.status_code == 409 and "no open handoff" in again.json()["error"]


def test_another_agents_claim_is_respected(client):
    conv, _ = handed_off(client)
    login(client, "sam", PASSWORD + "!")
    sam = {"X-CSRF-Token": client.get("/api/agent/me").json()["csrf_token"]}
    client.post(f"/api/agent/handoffs/{conv}/claim", headers=sam)
    csrf = login(client)  # the same browser, now dana
    for path, body in (("claim", None), ("reply", {"text": "hi"}), ("resolve", {})):
        response = client.post(f"/api/agent/handoffs/{conv}/{path}", json=body, headers=csrf)
        assert response.status_code == 409 and "claimed by sam" in response.json()["error"]


def test_release_and_hand_back_with_a_note(client):
    conv, auth = handed_off(client)
    csrf = login(client)
    client.post(f"/api/agent/handoffs/{conv}/claim", headers=csrf)
    assert client.post(f"/api/agent/handoffs/{conv}/release", headers=csrf).status_code == 204
    assert client.get(f"/api/agent/handoffs/{conv}").json()["status"] == "waiting"
    no_note = client.post(f"/api/agent/handoffs/{conv}/hand-back", json={"note": " "}, headers=csrf)
    assert no_note.status_code == 422
    back = client.post(f"/api/agent/handoffs/{conv}/hand-back", json={"note": "Refund approved; explain timing."},
                       headers=csrf)
    assert back.json() == {"ok": True, "status": "ai"}
    seen = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert seen["status"] == "ai" and seen["handoff"]["status"] == "returned"


def test_ai_draft_and_tool_runs(client, fake_llm):
    fake_llm.draft = "Hello, I'm taking over from the assistant. How can I help?"
    conv, _ = handed_off(client)
    csrf = login(client)
    draft = client.post(f"/api/agent/handoffs/{conv}/draft", json={"instruction": "be brief"}, headers=csrf).json()
    assert draft["text"] and draft["source"] in ("llm", "facts")
    tool = client.post(f"/api/agent/handoffs/{conv}/tools/get_order", json={"args": {"order_id": "A10002"}},
                       headers=csrf)
    assert tool.status_code == 200 and tool.json()["tool"] == "get_order"
    unknown = client.post(f"/api/agent/handoffs/{conv}/tools/launch_rocket", json={"args": {}}, headers=csrf)
    assert unknown.status_code == 409 and "unknown tool" in unknown.json()["error"]
    bad = client.post(f"/api/agent/handoffs/{conv}/tools/get_order", json={"args": {"order_id": [1]}},
                      headers=csrf)
    assert bad.status_code == 422
