"""The web app over an engine with the fake LLM, driven by Starlette's TestClient (real HTTP semantics, in-process)."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from bot.accounts import Accounts

PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's (make test installs it); never downloaded
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture
def accounts(settings) -> Accounts:
    accounts = Accounts(settings.agents_path)
    accounts.add("dana", PASSWORD, skills=("billing",), languages=("en",))
    accounts.add("sam", PASSWORD + "!", skills=("orders",))
    return accounts


@pytest.fixture
def app(engine, settings, accounts):
    from bot.web.app import create_app

    return create_app(engine, settings, accounts)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def web_policy(engine, rate_limits: dict | None = None, **fields) -> None:
    """Change the engine's guardrails/web.yaml policy for one test (the app reads it on every request)."""
    web = engine.deps.policies.web
    if rate_limits:
        fields["rate_limits"] = web.rate_limits.model_copy(update=rate_limits)
    engine.deps.policies = engine.deps.policies.model_copy(update={"web": web.model_copy(update=fields)})


def start(client: TestClient) -> tuple[str, dict[str, str]]:
    """A new conversation: its id and the customer's Authorization header."""
    response = client.post("/api/conversations", json={})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}


def login(client: TestClient, name: str = "dana", password: str = PASSWORD) -> dict[str, str]:
    """Log in (the cookie stays in the client); returns the CSRF header for changes."""
    response = client.post("/api/agent/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def handed_off(client: TestClient) -> tuple[str, dict[str, str]]:
    conv, auth = start(client)
    reply = client.post(f"/api/conversations/{conv}/messages", json={"text": "I want to talk to a human"},
                        headers=auth).json()
    assert reply["handoff"] and reply["status"] == "human", reply
    return conv, auth


@pytest.fixture
def server(app):
    """The app on a free loopback port, in a thread of this process (it shares the test's engine)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not web.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    web.should_exit = True
    thread.join(10)
