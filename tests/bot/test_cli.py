"""`bot chat` as a user runs it: a subprocess, stdin lines in, JSON lines out (CONTRACTS §1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from tests.fake_server import fake_llm_server

BOT = [sys.executable, "-m", "bot.cli"]


def run_bot(args, stdin: bytes, tmp_path: Path, extra_env=None, timeout=300):
    env = dict(os.environ)
    env.update(
        BOT_DB_URL=f"sqlite:///{tmp_path / 'bot.sqlite'}",
        BOT_STORE_DB=str(tmp_path / "store.sqlite"),
        OTEL_SDK_DISABLED="true",
    )
    for key in ("BOT_LLM_BASE_URL", "BOT_LLM_MODEL", "BOT_LLM_API_KEY", "BOT_LOCAL_MODEL"):
        env.pop(key, None)
    env.update(extra_env or {})
    return subprocess.run(BOT + args, input=stdin, capture_output=True, timeout=timeout, env=env,
                          cwd=tmp_path)


@pytest.mark.llm
def test_piped_chat_prints_contract_json_and_hands_off(tmp_path):
    # The model answers; its handoff notes (two more calls after the last line) are test_engine_real.py's subject.
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "guardrails", policies)
    handoff = policies / "handoff.yaml"
    handoff.write_text(handoff.read_text().replace("llm_summary: true", "llm_summary: false"))
    out = run_bot(["chat"], b"hi\nwhere is my order\nI want to talk to a human\n", tmp_path,
                  {"BOT_POLICY_DIR": str(policies)})
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert set(line) == {"conversation_id", "reply", "intent", "sentiment", "handoff", "handoff_reason", "blocked"}
        assert line["reply"]
    assert lines[0]["intent"] == "greeting" and not lines[0]["handoff"]
    assert lines[1]["intent"] == "order_status" and not lines[1]["handoff"]
    assert lines[2]["handoff"] is True and lines[2]["handoff_reason"] == "customer_request"
    assert len({line["conversation_id"] for line in lines}) == 1


def test_conversation_resumes_in_a_new_process(tmp_path):
    """Resuming is about checkpoints, not the model: a fake endpoint answers (the real model: the test above)."""
    with fake_llm_server() as url:
        llm = {"BOT_LLM_BASE_URL": url}
        first = run_bot(["chat", "--customer", "cust-1"], b"where is my order A10002?\n", tmp_path, llm)
        conv = json.loads(first.stdout.decode().splitlines()[0])["conversation_id"]
        second = run_bot(["chat", "--conversation", conv], b"I want to talk to a person\n", tmp_path, llm)
    assert second.returncode == 0, second.stderr.decode()
    line = json.loads(second.stdout.decode().splitlines()[0])
    assert line["conversation_id"] == conv and line["handoff"]


def test_unknown_customer_is_a_clear_error(tmp_path):
    out = run_bot(["chat", "--customer", "cust-999"], b"hi\n", tmp_path)
    assert out.returncode == 2
    assert "unknown customer id 'cust-999'" in out.stderr.decode() and "cust-1" in out.stderr.decode()
    assert out.stdout == b""


def test_unknown_conversation_is_a_clear_error(tmp_path):
    out = run_bot(["chat", "--conversation", "c-nope"], b"hi\n", tmp_path)
    assert out.returncode == 2 and "no conversation 'c-nope'" in out.stderr.decode()


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    out = run_bot(["chat"], b"hi\n", tmp_path, {"BOT_LOCAL_MODEL": str(bad)})
    assert out.returncode == 2
    assert "could not load" in out.stderr.decode() and "Traceback" not in out.stderr.decode()
    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("hello")
    out = run_bot(["chat"], b"hi\n", tmp_path, {"BOT_LOCAL_MODEL": str(not_gguf)})
    assert out.returncode == 2 and "not a GGUF model file" in out.stderr.decode()


def test_unreachable_llm_endpoint_still_answers_from_facts(tmp_path):
    env = {"BOT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "BOT_LLM_TIMEOUT": "2"}
    out = run_bot(["chat", "--customer", "cust-1"], b"where is my order A10002?\n\xff\xfe\xfd\n\n", tmp_path, env)
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(lines) == 3
    assert "A10002" in lines[0]["reply"] and "Traceback" not in out.stderr.decode()
    assert "could not be read" in lines[1]["reply"]
    assert "empty" in lines[2]["reply"]


def test_bad_database_url_is_a_clear_error(tmp_path):
    out = run_bot(["chat"], b"hi\n", tmp_path, {"BOT_DB_URL": "mysql://nope"})
    assert out.returncode == 2 and "BOT_DB_URL" in out.stderr.decode()
