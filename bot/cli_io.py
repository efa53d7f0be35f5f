"""What the reporting commands share (`bot report`, `bot roi`, `bot monitor`, `bot train`): the window options, a
`--json` target checked before any work and written atomically, and the stored database opened with one clear error.

Each helper raises ValueError with the sentence the user reads; the commands turn it into their one error line and
exit 2 (`bot.cli.fail`). Checking the output path first means a 20-second computation never ends in "cannot write".
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings


def parse_since(since_days: str | None, since: str | None, now: float) -> float:
    """The window's start in epoch seconds (0: everything stored). `--since` takes an ISO date/date-time (UTC unless
    it gives an offset) or epoch seconds."""
    if since_days is not None and since is not None:
        raise ValueError("give --since-days or --since, not both")
    if since_days is not None:
        try:
            days = float(since_days)
        except ValueError:
            days = -1.0
        if not 0 <= days < 100_000:
            raise ValueError(f"--since-days {since_days!r}: expected a number of days, 0 or more")
        return now - days * 86400
    if since is None:
        return 0.0
    text = since.strip()
    try:
        epoch = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
            return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
        except (ValueError, OverflowError):
            raise ValueError(f"--since {since!r}: expected an ISO date like 2026-11-01 or 2026-11-01T09:30"
                             " (or epoch seconds)") from None
    if not math.isfinite(epoch) or epoch < 0:
        raise ValueError(f"--since {since!r}: epoch seconds must be a number, 0 or more")
    return epoch


def report_options(since_days: str | None, since: str | None, mode: str | None, json_out: Path | None,
                   now: float) -> float:
    """`bot report` and `bot roi`: the window's start, with the mode and the --json target checked too."""
    from bot.modes import MODES

    start = parse_since(since_days, since, now)
    if mode is not None and mode not in MODES:
        raise ValueError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    if json_out is not None:
        check_writable(json_out)
    return start


def keep_mode(result: dict[str, Any], mode: str | None) -> dict[str, Any]:
    """A per-cohort report (`cohorts` list, `modes` dict) cut down to one operating mode (None: all)."""
    if mode is not None:
        result["cohorts"] = [g for g in result["cohorts"] if g["mode"] == mode]
        result["modes"] = {m: g for m, g in result["modes"].items() if m == mode}
    result["mode"] = mode
    return result


def check_writable(target: Path) -> None:
    """Refuse a `--json` target that cannot be written, before anything is computed."""
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ValueError(f"--json {target}: is a directory")
    if not parent.is_dir() or not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ValueError(f"--json {target}: cannot write there (the folder must exist and be writable)")


def write_json(target: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically (a reader never sees half a report)."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ValueError(f"--json {target}: cannot write there ({exc.strerror or exc})") from None


@contextmanager
def stored_database(settings: Settings) -> Iterator[Any]:
    """The conversation database, for commands that only read what was stored: a missing SQLite file is an error
    (not an empty database made on the spot), an unreachable or broken one is one sentence."""
    from bot.persistence import Database
    from bot.sql import DatabaseUnavailable, is_postgres

    if not is_postgres(settings.db_url) and not settings.db_path.exists():
        raise ValueError(f"no database at {settings.db_path}: nothing has been stored yet (or BOT_DB_URL points"
                         " elsewhere)")
    try:
        db = Database.from_settings(settings)
    except (DatabaseUnavailable, ConfigError, sqlite3.DatabaseError) as exc:
        raise ValueError(str(exc)) from None
    try:
        yield db
    except (DatabaseUnavailable, sqlite3.DatabaseError) as exc:
        raise ValueError(str(exc)) from None
    finally:
        db.close()
