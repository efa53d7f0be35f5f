"""bot/logs.py: JSON and text lines from real log records (with real exceptions), the conversation context across
threads and tasks, personal data scrubbed from messages and tracebacks, and BOT_LOG_FORMAT in a fresh process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import pytest
from starlette.concurrency import run_in_threadpool

from bot.logs import JsonFormatter, TextFormatter, current_context, log_context, scrub

EMAIL, PHONE, CARD, IBAN = "maria.lopez@example.com", "+1 617-555-0123", "4111 1111 1111 1111", "DE89370400440532013000"
RAW = (EMAIL, PHONE, CARD, IBAN, "617-555-0123", "4111111111111111", "0532013000")


@contextmanager
def captured(formatter: logging.Formatter) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("bot.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def lookup_order(email: str) -> None:
    raise LookupError(f"no order for customer {email} (card on file {CARD})")


def test_json_lines_parse_and_carry_the_conversation():
    with captured(JsonFormatter()) as (log, stream):
        log.info("before")
        with log_context(conversation_id="c-0123456789ab"):
            log.warning("llm %s failed (attempt %d/%d)", "stream", 1, 3)
            with log_context(channel="web"):
                log.error("inner")
        log.info("after")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["before", "llm stream failed (attempt 1/3)", "inner", "after"]
    assert all({"ts", "level", "logger", "message", "pid"} <= set(line) for line in lines)
    assert lines[1]["level"] == "WARNING" and lines[1]["logger"] == "bot.test_logs"
    assert lines[1]["ts"].endswith("+00:00") and "T" in lines[1]["ts"]
    assert [line.get("conversation_id") for line in lines] == [None, "c-0123456789ab", "c-0123456789ab", None]
    assert lines[2]["channel"] == "web" and "channel" not in lines[1]


def test_an_exception_with_a_customers_email_is_scrubbed_in_both_formats():
    for formatter in (JsonFormatter(), TextFormatter()):
        with captured(formatter) as (log, stream):
            with log_context(conversation_id="c-feedfacecafe"):
                try:
                    lookup_order(EMAIL)
                except LookupError as exc:
                    log.exception("tool failed: %s; call back on %s, IBAN %s", exc, PHONE, IBAN)
        text = stream.getvalue()
        for raw in RAW:
            assert raw not in text, (raw, text)
        assert "Traceback (most recent call last)" in text and "lookup_order" in text  # still a useful traceback
        assert "[EMAIL]" in text and "[CARD]" in text and "[PHONE]" in text and "[IBAN]" in text
        if isinstance(formatter, JsonFormatter):
            line = json.loads(text)
            assert line["conversation_id"] == "c-feedfacecafe" and "LookupError: no order for customer [EMAIL]" in \
                line["exception"]
        else:
            assert "[c-feedfacecafe]" in text.splitlines()[0]


def test_extra_fields_are_scrubbed_and_bare_records_hold_no_context():
    with captured(JsonFormatter()) as (log, stream):
        with log_context(conversation_id="c-0123456789ab"):
            log.info("GET /x 200", extra={"bare": True, "fields": {"route": "/x", "status": 200, "note": EMAIL}})
    line = json.loads(stream.getvalue())
    assert line["route"] == "/x" and line["status"] == 200 and line["note"] == "[EMAIL]"
    assert "conversation_id" not in line


@pytest.mark.parametrize("text, expected", [
    ("mail maria.lopez@example.com now", "mail [EMAIL] now"),
    ("GET /?email=maria%40example.com", "GET /?email=[EMAIL]"),
    ("card 4111-1111-1111-1111.", "card [CARD]."),
    ("not a card 4111111111111112", "not a card 4111111111111112"),  # fails Luhn
    ("iban DE89 3704 0044 0532 0130 00 please", "iban [IBAN] please"),
    ("gb GB82WEST12345698765432", "gb [IBAN]"),
    ("call +1 617-555-0123 or (415) 555-2671", "call [PHONE] or [PHONE]"),
    ("ruf an: +49 30 901820", "ruf an: [PHONE]"),
    ("ssn 123-45-6789", "ssn [SSN]"),
])
def test_scrub(text, expected):
    assert scrub(text) == expected


def test_scrub_keeps_what_operators_need():
    line = ("order A10001 on 2024-05-01 12:30:00 took 1234.5ms pid 12345 at 127.0.0.1:8000 conversation c-71ab82a36b47"
            " GET /api/conversations/{conversation_id}/messages 200 client=3f9a0c12de epoch 1714572000")
    assert scrub(line) == line


def test_the_context_follows_threadpool_calls_and_tasks_but_is_reset_after():
    async def main() -> tuple[dict, dict, dict]:
        with log_context(conversation_id="c-1"):
            in_thread = await run_in_threadpool(current_context)
            in_task = await asyncio.create_task(asyncio.sleep(0, current_context()))
        return in_thread, in_task, current_context()

    in_thread, in_task, after = asyncio.run(main())
    assert in_thread == in_task == {"conversation_id": "c-1"} and after == {}
    seen: list[dict] = []
    with log_context(conversation_id="c-2"):
        worker = threading.Thread(target=lambda: seen.append(current_context()))
        worker.start()
        worker.join()
    assert seen == [{}]  # a plain new thread starts empty: set the context inside it (bot/web/voice.py does)


def run_configured(env: dict[str, str], default: str = "json", cwd: str = "/") -> str:
    """configure() in a new process (cwd without a .env file), then one warning with an e-mail address in it."""
    code = (f"import logging; from bot.logs import configure; configure({default!r}); "
            "logging.getLogger('bot.x').warning('write to %s', 'maria.lopez@example.com')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd,
                         env={k: v for k, v in os.environ.items() if not k.startswith("BOT_LOG")} | env)
    assert out.returncode == 0, out.stderr
    return out.stderr


def test_bot_log_format_chooses_the_format_in_a_fresh_process():
    default = json.loads(run_configured({}).strip())
    assert default["message"] == "write to [EMAIL]" and default["logger"] == "bot.x"
    text = run_configured({"BOT_LOG_FORMAT": "text"}).strip()
    assert text.endswith("WARNING bot.x: write to [EMAIL]") and not text.startswith("{")
    assert json.loads(run_configured({"BOT_LOG_FORMAT": "json"}, default="text"))["level"] == "WARNING"
    lines = run_configured({"BOT_LOG_FORMAT": "xml"}).strip().splitlines()
    assert [json.loads(line)["message"] for line in lines] == [
        "BOT_LOG_FORMAT='xml' is not json or text; using json", "write to [EMAIL]"]
    assert run_configured({"BOT_LOG_LEVEL": "ERROR"}) == ""
