"""Faults with real processes and a real PostgreSQL: a `bot serve` worker killed mid-turn (the conversation is
finished from its checkpoint by the next worker, the message answered once) and the database stopped for a moment
(the turn fails cleanly with 503 and succeeds when the client sends it again)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import pytest

from tests.fake_server import fake_llm_server
from tests.fakes import FakeLLM
from tests.pg import PostgresServer
from tests.web.test_serve import BOT, env_for, free_port, fresh

QUESTION = "how long do refunds take?"
ANSWER = "Refunds reach your card 5 to 7 business days after we receive the parcel."


def _serve(settings, llm_url: str, log_path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(env_for(settings), BOT_LLM_BASE_URL=llm_url, BOT_LLM_MODEL="fake", BOT_LLM_LANGUAGES="en")
    proc = subprocess.Popen(BOT + ["serve", "--port", str(port)], env=env, stdout=log_path.open("ab"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    with fresh() as http:
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "bot serve did not start"
            try:
                if http.get(base + "/healthz").status_code == 200:
                    return proc, base
            except httpx.TransportError:
                time.sleep(0.3)


def _wait_for_checkpoint(db_url: str, conversation_id: str, node: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    from graphs.builder import build_graph

    with PostgresSaver.from_conn_string(db_url) as saver:
        graph = build_graph(saver)
        deadline = time.monotonic() + 10
        while node not in graph.get_state({"configurable": {"thread_id": conversation_id}}).next:
            assert time.monotonic() < deadline, f"no checkpoint before {node}"
            time.sleep(0.02)


def test_a_worker_killed_mid_turn_loses_nothing_and_answers_once(settings, pg_server, tmp_path):
    import dataclasses

    settings = dataclasses.replace(settings, db_url=pg_server.new_database())
    arrived, release = threading.Event(), threading.Event()
    writes = []

    def reply(messages):
        if "refunds" not in messages[-1]["content"]:
            return "Hello."  # a worker's warm-up call
        writes.append(1)
        if len(writes) == 1:  # the first worker's reply: hold it until that worker is dead
            arrived.set()
            release.wait(30)
        return ANSWER

    log = tmp_path / "serve.log"
    with fake_llm_server(FakeLLM(reply=reply)) as llm_url:
        first, base = _serve(settings, llm_url, log)
        try:
            with fresh() as http:
                started = http.post(base + "/api/conversations").json()
                conv, auth = started["conversation_id"], {"Authorization": f"Bearer {started['token']}"}
                body = {"text": QUESTION, "message_id": "msg-0000000001"}
                lost: list[BaseException] = []

                def send() -> None:
                    try:
                        http.post(f"{base}/api/conversations/{conv}/messages", json=body, headers=auth)
                    except httpx.TransportError as exc:  # the worker died under the request
                        lost.append(exc)

                sender = threading.Thread(target=send)
                sender.start()
                assert arrived.wait(60), "the LLM never got the reply request"
                _wait_for_checkpoint(settings.db_url, conv, "respond")  # the safe point before the LLM writes
                first.send_signal(signal.SIGKILL)
                first.wait(10)
                sender.join(10)
                assert lost, "the request should have died with its worker"
        finally:
            release.set()
            if first.poll() is None:
                first.kill()

        second, base = _serve(settings, llm_url, log)  # a new worker on the same database
        try:
            with fresh() as http:
                deadline = time.monotonic() + 30  # its recovery sweep finishes the cut run: the customer just waits
                messages: list[dict] = []
                while not any(m["role"] == "bot" for m in messages):
                    assert time.monotonic() < deadline, f"the cut turn was never finished: {messages}"
                    time.sleep(0.5)
                    messages = http.get(f"{base}/api/conversations/{conv}", headers=auth).json()["messages"]
                assert [(m["role"], m["text"]) for m in messages] == [("customer", QUESTION), ("bot", ANSWER)]
                retried = http.post(f"{base}/api/conversations/{conv}/messages", json=body, headers=auth)
                assert retried.status_code == 200 and retried.json()["reply"] == ANSWER  # the page's retry
                messages = http.get(f"{base}/api/conversations/{conv}", headers=auth).json()["messages"]
                assert [m["role"] for m in messages] == ["customer", "bot"]  # answered once
                assert len(writes) == 2  # the cut reply and the one that finished the run
        finally:
            second.terminate()
            second.wait(10)
    assert "Traceback" not in log.read_text()


@pytest.fixture
def own_pg():
    """A server of this test's own: it is stopped and started again mid-test."""
    server = PostgresServer()
    server.url = ""  # never an external server: this one must be paused
    server.start()
    yield server
    server.stop()


def test_the_database_away_for_a_moment_fails_the_turn_cleanly_then_it_succeeds(settings, own_pg, shared_nlu):
    import dataclasses

    from fastapi.testclient import TestClient

    from bot.engine import Engine
    from bot.web.app import create_app

    settings = dataclasses.replace(settings, db_url=own_pg.new_database())
    engine = Engine.from_settings(settings, FakeLLM(reply=ANSWER).client(), nlu=shared_nlu)
    try:
        http = TestClient(create_app(engine, settings))
        started = http.post("/api/conversations").json()
        conv, auth = started["conversation_id"], {"Authorization": f"Bearer {started['token']}"}
        url = f"/api/conversations/{conv}/messages"
        assert http.post(url, json={"text": "hello", "message_id": "msg-0000000001"}, headers=auth).status_code == 200
        own_pg.pause()
        body = {"text": QUESTION, "message_id": "msg-0000000002"}
        failed = http.post(url, json=body, headers=auth)
        assert failed.status_code == 503 and failed.headers["retry-after"]
        assert failed.json() == {"error": "the service is briefly unavailable; please try again in a moment"}
        own_pg.resume()
        ok = http.post(url, json=body, headers=auth)
        assert ok.status_code == 200 and ok.json()["reply"] == ANSWER
        roles = [m["role"] for m in http.get(f"/api/conversations/{conv}", headers=auth).json()["messages"]]
        assert roles == ["customer", "bot", "customer", "bot"]
    finally:
        engine.close()
