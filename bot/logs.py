"""Logs: one JSON object per line for `bot serve` (text for interactive commands), never with personal data.

Why JSON: a server's log goes to a shipper that indexes fields; one object per line with `ts`, `level`, `logger`,
`message` and the `conversation_id` of the turn being run lets an operator pull every line of one conversation
across workers. `BOT_LOG_FORMAT=json|text` overrides the default (json for `bot serve`, text elsewhere).

Why scrub here: log lines travel further than the database (shippers, tickets, screenshots), and exception text
quotes its inputs ("no order for alice@example.com"). Every message, exception and traceback is scrubbed of
e-mail addresses, phone numbers, Luhn-valid card numbers, checksummed IBANs and US SSNs before it is written,
in both formats. The checks are regexes plus libphonenumber (what presidio's phone recognizer uses), not the
presidio engine itself: a formatter runs on every line and must not load spaCy or log by itself.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

FORMATS = ("json", "text")
NOISY = ("httpx", "httpcore", "openai")
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "CA", "AU", "NL")  # as guardrails/pii.yaml's phone_regions

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("bot_log_context", default={})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach `fields` (e.g. conversation_id) to every record logged inside the block — in this thread, and in
    tasks and `run_in_threadpool` calls started from it (they copy the context; plain new threads do not)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


# -- scrubbing ---------------------------------------------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_CARD = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}", re.IGNORECASE)
_MAYBE_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


def _iban_ok(compact: str) -> bool:
    moved = (compact[4:] + compact[:4]).upper()
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(match: re.Match[str]) -> str:
    """The longest checksummed prefix (a following word can run into the match: "DE89… please")."""
    text = match.group()
    ends = [i + 1 for i, ch in enumerate(text) if ch != " "]
    for n in range(len(ends), 14, -1):
        if _iban_ok(text[:ends[n - 1]].replace(" ", "")):
            return "[IBAN]" + text[ends[n - 1]:]
    return text


def _phones(text: str) -> str:
    if not any(sum(c.isdigit() for c in m.group()) >= 7 for m in _MAYBE_PHONE.finditer(text)):
        return text
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - presidio depends on it
        return _MAYBE_PHONE.sub("[PHONE]", text)
    spans = sorted({(m.start, m.end) for region in PHONE_REGIONS
                    for m in phonenumbers.PhoneNumberMatcher(text, region)})
    merged: list[list[int]] = []
    for start, end in spans:  # one number found by several regions, perhaps with different extents
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + "[PHONE]" + text[end:]
    return text


def scrub(text: str) -> str:
    """`text` with personal data replaced by `[EMAIL]`, `[CARD]`, `[IBAN]`, `[SSN]`, `[PHONE]`. Never raises: if a
    check fails, every long digit run goes (a log line without a number beats one with a card number)."""
    if not text:
        return text
    try:
        text = _EMAIL.sub("[EMAIL]", text)
        text = _IBAN.sub(_iban, text)
        text = _CARD.sub(_card, text)
        text = _SSN.sub("[SSN]", text)
        return _phones(text)
    except Exception:  # noqa: BLE001 - a formatter must not fail
        return re.sub(r"\d[\d\s().-]{5,}\d", "[NUMBER]", _EMAIL.sub("[EMAIL]", text))


# -- formatters --------------------------------------------------------------------------------------------------
def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    parts = []
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return scrub("\n".join(parts)) if parts else None


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The log context, unless the record opts out (`extra={"bare": True}`: the access log holds no ids)."""
    return {} if getattr(record, "bare", False) else current_context()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, pid, the log context
    (conversation_id), the record's `extra={"fields": {...}}`, and `exception` (scrubbed traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "pid": record.process,
        }
        line.update(_context_of(record))
        for key, value in (getattr(record, "fields", None) or {}).items():
            line.setdefault(key, scrub(value) if isinstance(value, str) else value)
        exception = _exception(self, record)
        if exception:
            line["exception"] = exception
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [conversation]: message`, scrubbed the same way."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = _context_of(record)
        where = f" [{context['conversation_id']}]" if "conversation_id" in context else ""
        text = f"{self.formatTime(record)} {record.levelname} {record.name}{where}: {scrub(record.getMessage())}"
        exception = _exception(self, record)
        return f"{text}\n{exception}" if exception else text


# -- configuration -----------------------------------------------------------------------------------------------
def env_value(name: str) -> str | None:
    """A setting from the environment, else from `.env` in the working directory (as bot.config reads them)."""
    value = os.environ.get(name, "").strip()
    if not value and (Path.cwd() / ".env").is_file():
        from dotenv import dotenv_values

        value = (dotenv_values(Path.cwd() / ".env").get(name) or "").strip()
    return value or None


def log_format(default: str) -> str:
    chosen = (env_value("BOT_LOG_FORMAT") or default).lower()
    return chosen if chosen in FORMATS else default


def configure(default_format: str, level: int = logging.WARNING, *, filename: Path | None = None,
              levels: dict[str, int] | None = None, force: bool = False) -> str:
    """One root handler (stderr, or `filename`) with the chosen formatter; returns the format.

    `BOT_LOG_FORMAT` picks json or text (an unknown value keeps `default_format`, with a warning), `BOT_LOG_LEVEL`
    the root level (DEBUG, INFO, WARNING, ERROR). Like `logging.basicConfig`, handlers someone else installed (a test
    runner, an embedding program) are left alone unless `force`; a handler from an earlier call is replaced."""
    fmt = log_format(default_format)
    root = logging.getLogger()
    foreign = [h for h in root.handlers if not getattr(h, "bot_logs", False)]
    if force or not foreign:
        handler: logging.Handler = (logging.FileHandler(filename, encoding="utf-8") if filename
                                    else logging.StreamHandler(sys.stderr))
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        handler.bot_logs = True  # type: ignore[attr-defined]
        for old in root.handlers[:]:
            root.removeHandler(old)
            if getattr(old, "bot_logs", False):
                old.close()
        root.addHandler(handler)
        wanted = (env_value("BOT_LOG_LEVEL") or "").upper()
        root.setLevel(logging.getLevelName(wanted) if wanted in ("DEBUG", "INFO", "WARNING", "ERROR") else level)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name, value in (levels or {}).items():
        logging.getLogger(name).setLevel(value)
    unknown = env_value("BOT_LOG_FORMAT")
    if unknown and unknown.lower() not in FORMATS:
        logging.getLogger(__name__).warning("BOT_LOG_FORMAT=%r is not json or text; using %s", unknown, fmt)
    return fmt
