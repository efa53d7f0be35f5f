"""The app as a whole (bot/web/app.py, security.py): pages, OpenAPI, headers, CORS, errors, and an access log that
never holds personal data."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from tests.web.conftest import handed_off, login, start, web_policy


def test_pages_and_openapi_are_served_with_hardening_headers(client):
    for path, fragment in (("/", "chat.js"), ("/agent", "agent.js"), ("/static/style.css", "")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert fragment in response.text
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/conversations", "/api/conversations/{conversation_id}/messages",
                 "/api/conversations/{conversation_id}", "/api/agent/login", "/api/agent/queue",
                 "/api/agent/handoffs/{conversation_id}", "/api/agent/handoffs/{conversation_id}/claim",
                 "/api/agent/handoffs/{conversation_id}/reply", "/api/agent/handoffs/{conversation_id}/resolve",
                 "/api/agent/handoffs/{conversation_id}/hand-back", "/api/agent/handoffs/{conversation_id}/draft"):
        assert path in paths, path
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 404  # Swagger UI would load its script from a CDN


def test_unknown_paths_and_methods_answer_in_json(client):
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "no such page"}
    assert client.delete("/api/conversations").status_code == 405
    assert client.get("/static/../../bot/config.py").status_code == 404


def test_cors_is_closed_by_default(client):
    preflight = client.options("/api/conversations", headers={"Origin": "https://evil.example",
                                                              "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.post("/api/conversations", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_only_to_listed_origins(engine, settings, accounts):
    from bot.web.app import create_app

    web_policy(engine, cors_origins=["https://shop.example.com"])
    client = TestClient(create_app(engine, settings, accounts))
    ok = client.post("/api/conversations", headers={"Origin": "https://shop.example.com"})
    assert ok.headers["access-control-allow-origin"] == "https://shop.example.com"
    other = client.post("/api/conversations", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_the_access_log_has_routes_not_ids_queries_or_addresses(client, caplog, settings):
    caplog.set_level(logging.INFO, logger="bot.web.access")
    conv, auth = handed_off(client)
    client.get(f"/api/conversations/{conv}/messages", params={"after": 0, "email": "eve@example.com"}, headers=auth)
    client.post("/api/agent/login", json={"name": "dana", "password": "wrong password"})
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.web.access"]
    assert any(line.startswith("GET /api/conversations/{conversation_id}/messages 200") for line in lines), lines
    assert any(line.startswith("POST /api/agent/login 401") for line in lines)
    text = "\n".join(lines)
    for secret in (conv, "eve@example.com", "example.com", "testclient", "127.0.0.1", "wrong password",
                   auth["Authorization"].split()[1]):
        assert secret not in text, secret
    from bot.rails.pii import placeholder_key
    from bot.web.security import pseudonym

    mine = pseudonym("testclient", placeholder_key(settings.data_dir))
    assert all(line.endswith(f"client={mine}") for line in lines), lines
    assert pseudonym("testclient", b"another installation") != mine  # keyed: not a plain hash of the address


def test_the_per_client_request_budget(engine, settings, accounts):
    from bot.web.app import create_app

    web_policy(engine, rate_limits={"requests_per_minute": 5})
    client = TestClient(create_app(engine, settings, accounts))
    conv, auth = start(client)
    codes = [client.get(f"/api/conversations/{conv}", headers=auth).status_code for _ in range(5)]
    assert codes == [200] * 4 + [429]
    assert client.get("/healthz").status_code == 200  # health checks are not API traffic


def test_a_trusted_proxy_gives_each_client_its_own_budget(engine, settings, accounts):
    from bot.web.app import create_app

    web_policy(engine, rate_limits={"new_conversations_per_hour": 1}, trusted_proxies=["127.0.0.0/8"])
    client = TestClient(create_app(engine, settings, accounts), client=("127.0.0.1", 5000))
    for address in ("203.0.113.7", "203.0.113.8"):
        assert client.post("/api/conversations", headers={"X-Forwarded-For": address}).status_code == 201
    again = client.post("/api/conversations", headers={"X-Forwarded-For": "203.0.113.7"})
    assert again.status_code == 429
    # an untrusted peer's X-Forwarded-For is ignored: it cannot mint itself fresh budgets
    direct = TestClient(create_app(engine, settings, accounts), client=("198.51.100.9", 5000))
    assert direct.post("/api/conversations", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 201
    assert direct.post("/api/conversations", headers={"X-Forwarded-For": "1.1.1.2"}).status_code == 429


def test_login_pages_survive_a_broken_accounts_file(client, accounts):
    accounts.path.write_text("{not json")
    response = client.post("/api/agent/login", json={"name": "dana", "password": "whatever it is"})
    assert response.status_code == 503 and "unavailable" in response.json()["error"]
    assert login  # the helper stays importable for the other tests
