"""`bot roi`: the ROI report (evals/roi.py) as a command, kept out of bot/cli.py so that file stays a list of thin
commands. Bad input — the window, the mode, the --json target, the costs file, the database — is one error line and
exit 2 before anything is computed or written (bot/cli.py's `fail`, as every command)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer


def parse_since(since_days: str | None, since: str | None, now: float) -> float:
    """The window's start in epoch seconds (0: everything stored); ValueError says which option is wrong and why.
    `--since` takes epoch seconds or an ISO date/date-time (UTC unless it gives an offset), as `bot report` does."""
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
            raise ValueError(f"--since {since!r}: expected epoch seconds or an ISO date like 2026-11-01") from None
    if not math.isfinite(epoch) or epoch < 0:
        raise ValueError(f"--since {since!r}: epoch seconds must be a number, 0 or more")
    return epoch


def roi(
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report (JSON) here."),
    since_days: Optional[str] = typer.Option(None, "--since-days", metavar="N",
                                             help="Conversations of the last N days."),
    since: Optional[str] = typer.Option(None, "--since", metavar="EPOCH|DATE", help="Conversations started at or"
                                        " after these epoch seconds, or this ISO date (UTC unless it gives an"
                                        " offset)."),
    mode: Optional[str] = typer.Option(None, "--mode", metavar="MODE",
                                       help="Only this operating mode: ai_first, human_led, hybrid."),
    costs_path: Optional[Path] = typer.Option(None, "--costs", metavar="PATH",
                                              help="The prices (default: guardrails/costs.yaml in BOT_POLICY_DIR)."),
) -> None:
    """Savings from containment, the cost of escalations and the worth of handle-time changes, per mode and cohort,
    from the prices in guardrails/costs.yaml — each figure with its formula."""
    import json
    import os
    import sqlite3

    from rich.console import Console
    from rich.markup import escape

    from bot.cli import _settings, _setup_logging, err, fail
    from bot.config import ConfigError
    from bot.costs import PolicyError, load_costs
    from bot.modes import MODES
    from bot.persistence import Database
    from bot.sql import DatabaseUnavailable, is_postgres
    from evals.roi import roi_report, tables

    settings = _settings()
    _setup_logging(settings, False)
    try:
        start = parse_since(since_days, since, time.time())
    except ValueError as exc:
        fail(str(exc))
    if mode is not None and mode not in MODES:
        fail(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    if json_out is not None:
        parent = json_out.parent if str(json_out.parent) else Path(".")
        if json_out.is_dir():
            fail(f"--json {json_out}: is a directory")
        if not parent.is_dir() or not os.access(parent, os.W_OK) or (json_out.exists()
                                                                       and not os.access(json_out, os.W_OK)):
            fail(f"--json {json_out}: cannot write there (the folder must exist and be writable)")
    path = costs_path or settings.policy_dir / "costs.yaml"
    try:
        costs = load_costs(path)
    except PolicyError as exc:
        fail(str(exc))
    if not is_postgres(settings.db_url) and not settings.db_path.exists():
        fail(f"no database at {settings.db_path}: nothing has been stored yet (or BOT_DB_URL points elsewhere)")
    try:
        db = Database.from_settings(settings)
        try:
            result = roi_report(db, costs, since=start)
        finally:
            db.close()
    except (DatabaseUnavailable, ConfigError, sqlite3.DatabaseError) as exc:
        fail(str(exc))
    if mode is not None:
        result["cohorts"] = [g for g in result["cohorts"] if g["mode"] == mode]
        result["modes"] = {m: g for m, g in result["modes"].items() if m == mode}
    result["mode"] = mode
    result["costs_file"] = str(path)
    result["notes"] = []
    if settings.llm_base_url and not (costs.llm.prompt_per_1k_tokens or costs.llm.completion_per_1k_tokens):
        result["notes"].append(f"BOT_LLM_BASE_URL is set but {path} prices LLM tokens at 0: if that endpoint is"
                               " paid, set llm.prompt_per_1k_tokens and llm.completion_per_1k_tokens")
    if json_out is not None:
        partial = json_out.with_name(f".{json_out.name}.{os.getpid()}.tmp")
        try:
            partial.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            os.replace(partial, json_out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            fail(f"--json {json_out}: cannot write there ({exc.strerror or exc})")
    out = Console()
    window = f"started since {datetime.fromtimestamp(start, timezone.utc).isoformat(timespec='minutes')}" if start \
        else "all stored"
    out.print(f"Conversations {window}{f', mode {mode}' if mode else ''}; "
              f"{result['excluded']['no_customer_message']} without a customer message left out. Prices: {path}"
              f" ({costs.currency}).", highlight=False)
    if not result["cohorts"]:
        out.print("No conversations in this window.")
    else:
        for renderable in tables(result):
            out.print(renderable)
    for note in result["notes"]:
        out.print(f"note: {escape(note)}", highlight=False)
    out.print(f"[bold]Rounding[/] {escape(result['rounding'])}", style="dim", highlight=False)
    out.print("[bold]Definitions[/]", style="dim")
    for name, sentence in result["definitions"].items():
        out.print(f"  {name}: {escape(sentence)}", style="dim", highlight=False)
    if json_out is not None:
        err.print(f"wrote {json_out}")
