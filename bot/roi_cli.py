"""`bot roi`: the ROI report (evals/roi.py) as a command, kept out of bot/cli.py so that file stays a list of thin
commands. Bad input — the window, the mode, the --json target, the costs file, the database — is one error line and
exit 2 before anything is computed or written (bot/cli.py's `fail`, as every command)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer


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
    from rich.console import Console
    from rich.markup import escape

    from bot.cli import _settings, _setup_logging, err, fail
    from bot.cli_io import keep_mode, report_options, stored_database, write_json
    from bot.costs import load_costs
    from evals.roi import roi_report, tables

    settings = _settings()
    _setup_logging(settings, False)
    path = costs_path or settings.policy_dir / "costs.yaml"
    try:
        start = report_options(since_days, since, mode, json_out, time.time())
        costs = load_costs(path)
        with stored_database(settings) as db:
            result = keep_mode(roi_report(db, costs, since=start), mode)
    except ValueError as exc:  # PolicyError is one
        fail(str(exc))
    result["costs_file"] = str(path)
    result["notes"] = []
    if settings.llm_base_url and not (costs.llm.prompt_per_1k_tokens or costs.llm.completion_per_1k_tokens):
        result["notes"].append(f"BOT_LLM_BASE_URL is set but {path} prices LLM tokens at 0: if that endpoint is"
                               " paid, set llm.prompt_per_1k_tokens and llm.completion_per_1k_tokens")
    if json_out is not None:
        try:
            write_json(json_out, result)
        except ValueError as exc:
            fail(str(exc))
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
