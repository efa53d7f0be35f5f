"""Presence over HTTP (bot/web/agent.py): the roster, setting one's own status with the console's auth and CSRF,
logging in leaving presence alone and logging out signing out, the capacity limit on claims; and the console's
status control in a real browser."""

from __future__ import annotations

from tests.web import test_browser
from tests.web.conftest import PASSWORD, handed_off, login

browser = test_browser.browser  # the chromium fixture


def test_presence_needs_a_login_and_changes_need_the_csrf_header(client):
    assert client.get("/api/agent/presence").status_code == 401
    assert client.post("/api/agent/presence", json={"status": "online"}).status_code == 401
    login(client)
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        response = client.post("/api/agent/presence", json={"status": "online"}, headers=headers)
        assert response.status_code == 403 and "X-CSRF-Token" in response.json()["error"]
    assert client.get("/api/agent/presence").json() == {"agents": [], "me": None}  # nothing was changed


def test_login_leaves_presence_alone_and_status_changes_keep_the_declared_skills(client, engine):
    csrf = login(client)
    assert client.get("/api/agent/presence").json() == {"agents": [], "me": None}  # logged in, not available
    online = client.post("/api/agent/presence", json={"status": "online"}, headers=csrf)
    assert online.status_code == 200, online.text
    me = online.json()["me"]  # the first time: the account's skills and languages
    assert (me["agent"], me["status"], me["skills"], me["languages"], me["max_concurrent"], me["load"]) == \
        ("dana", "online", ["billing"], ["en"], 3, 0)
    away = client.post("/api/agent/presence", json={"status": "away"}, headers=csrf).json()["me"]
    assert away["status"] == "away" and away["skills"] == ["billing"]
    changed = client.post("/api/agent/presence", json={"status": "online", "skills": ["orders", "billing"],
                                                       "languages": ["en", "de"], "max_concurrent": 2}, headers=csrf)
    assert changed.json()["me"] == dict(changed.json()["me"], status="online", skills=["orders", "billing"],
                                        languages=["en", "de"], max_concurrent=2, room=2)
    assert engine.presence.get("dana").languages == ("en", "de")  # the same table as `bot agent who`
    roster = client.get("/api/agent/presence").json()
    assert [a["agent"] for a in roster["agents"]] == ["dana"] and roster["me"]["status"] == "online"
    offline = client.post("/api/agent/presence", json={"status": "offline"}, headers=csrf).json()["me"]
    assert offline["status"] == "offline" and offline["skills"] == ["orders", "billing"]


def test_bad_presence_requests_are_refused_with_a_sentence(client):
    csrf = login(client)
    for body, fragment in (({"status": "busy"}, "status must be online, away or offline"),
                           ({}, "status must be online, away or offline"),
                           ({"status": "online", "skills": "orders"}, "skills must be a list of strings"),
                           ({"status": "online", "languages": [1]}, "languages must be a list of strings"),
                           ({"status": "online", "max_concurrent": "3"}, "max_concurrent must be a whole number"),
                           ({"status": "online", "max_concurrent": True}, "max_concurrent must be a whole number"),
                           ({"status": "online", "max_concurrent": 0}, "from 1 to 50, got 0"),
                           ({"status": "online", "skills": ["ordrs"]}, "unknown skill 'ordrs'"),
                           ({"status": "away", "languages": ["english"]}, "2-letter ISO 639-1 code")):
        response = client.post("/api/agent/presence", json=body, headers=csrf)
        assert response.status_code == 422 and fragment in response.json()["error"], (body, response.text)
    assert client.get("/api/agent/presence").json()["me"] is None


def test_logout_signs_the_agent_out(client, accounts, engine):
    csrf = login(client)
    client.post("/api/agent/presence", json={"status": "online"}, headers=csrf)
    assert client.post("/api/agent/logout", headers=csrf).status_code == 204
    token = {"Authorization": f"Bearer {accounts.new_token('sam')}"}
    roster = client.get("/api/agent/presence", headers=token).json()
    assert roster["me"] is None and [(a["agent"], a["status"]) for a in roster["agents"]] == [("dana", "offline")]
    assert engine.deps.capacity("billing", "en") == {"online": 0, "free": 0, "slots": 0}
    # an API token sets presence without a cookie or CSRF token
    sam = client.post("/api/agent/presence", json={"status": "online", "max_concurrent": 1}, headers=token).json()
    assert sam["me"]["agent"] == "sam" and sam["me"]["skills"] == ["orders"]


def test_claims_beyond_the_agents_limit_are_refused(client):
    first, _ = handed_off(client)
    second, _ = handed_off(client)
    csrf = login(client)
    client.post("/api/agent/presence", json={"status": "online", "max_concurrent": 1}, headers=csrf)
    assert client.post(f"/api/agent/handoffs/{first}/claim", headers=csrf).status_code == 200
    refused = client.post(f"/api/agent/handoffs/{second}/claim", headers=csrf)
    assert refused.status_code == 409
    assert refused.json()["error"].startswith("agent dana is at capacity (1 of 1 conversations)")
    me = client.get("/api/agent/presence").json()["me"]
    assert (me["load"], me["room"]) == (1, 0)


def test_the_console_shows_and_changes_the_agents_status(server, browser, engine):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/agent")
    page.get_by_label("Name").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.click("#login-submit")
    page.locator("#console").wait_for(state="visible")
    status = page.get_by_label("Status")
    page.wait_for_selector("#presence-details >> text=Not taking new conversations")
    assert status.input_value() == "offline"
    status.select_option("online")
    page.wait_for_selector("#presence-details >> text=Skills: billing · Languages: en · 0 of 3 conversations")
    page.wait_for_selector("#agent-status >> text=You are online")
    assert engine.presence.get("dana").status == "online"
    status.select_option("away")
    page.wait_for_selector("#agent-status >> text=You are away")
    assert engine.presence.get("dana").status == "away"
    page.click("#logout")
    page.locator("#login-form").wait_for(state="visible")
    assert engine.presence.get("dana").status == "offline"
    assert not errors, errors
