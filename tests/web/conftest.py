"""The web app over an engine with the fake LLM, driven by Starlette's TestClient (real HTTP semantics, in-process)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.accounts import Accounts

PASSWORD = "correct horse battery"


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
