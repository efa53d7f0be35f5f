"""`bot monitor`: the drift monitor (evals/drift.py) as a command — a table for people, `--json` for tools, and
`--check` for cron or CI: exit 1 when an alert fires, 0 otherwise, 2 on bad input (one line on stderr).

Registered in bot/cli.py; the command's own imports wait until it runs, so `bot --help` stays quick. Every alert is
also a WARNING log line (bot/logs.py: text, or JSON with BOT_LOG_FORMAT=json, the metric in its own fields), so a log
shipper can alert without parsing the table.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

STATUS_STYLE = {"alert": "bold red", "watch": "yellow", "ok": "green", "not_enough_data": "dim"}
STATUS_TEXT = {"alert": "ALERT", "watch": "watch", "ok": "ok", "not_enough_data": "not enough data"}


def monitor(
    check: bool = typer.Option(False, "--check", help="Exit 1 when an alert fires (0 otherwise; 2 on bad input)."),
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="OUT", help="Write the whole result (JSON) here."),
    window_hours: Optional[str] = typer.Option(None, "--window-hours", metavar="H",
                                               help="The current window: the last H hours (default: monitor.yaml)."),
    baseline_days: Optional[str] = typer.Option(None, "--baseline-days", metavar="D",
                                                help="The baseline: the D days before the window (default:"
                                                     " monitor.yaml; overrides a pinned baseline)."),
    policy: Optional[Path] = typer.Option(None, "--policy", metavar="PATH",
                                          help="The monitor policy (default: guardrails/monitor.yaml)."),
) -> None:
    """Drift alerts: containment, escalations by reason, rail blocks, low confidence, out of scope, negative
    sentiment, CSAT and flags of the current window against the baseline; new out-of-scope topics."""
    from bot.cli import _settings, _setup_logging, err, fail
    from bot.cli_io import check_writable, stored_database, write_json
    from bot.policy import load_modes, load_monitor
    from evals.drift import log_report, run

    settings = _settings()
    _setup_logging(settings, False)
    path = policy or settings.policy_dir / "monitor.yaml"
    try:
        hours = _positive(window_hours, "--window-hours", "hours")
        days = _positive(baseline_days, "--baseline-days", "days")
        if json_out is not None:
            check_writable(json_out)
        monitor_policy = load_monitor(path, required=policy is not None)
        proxy_turns = load_modes(settings.policy_dir / "modes.yaml").csat.proxy_turns
        with stored_database(settings) as db:
            report = run(db, monitor_policy, current_hours=hours, baseline_days=days, proxy_turns=proxy_turns)
        report["policy"] = str(path) if path.exists() else "defaults (no monitor.yaml)"
        if json_out is not None:
            write_json(json_out, report)
    except ValueError as exc:  # PolicyError is one
        fail(str(exc))
    show(report)
    log_report(report)
    if json_out is not None:
        err.print(f"wrote {json_out}")
    raise typer.Exit(1 if check and report["alerts"] else 0)


def _positive(value: str | None, option: str, unit: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < 100_000:
        raise ValueError(f"{option} {value!r}: expected a number of {unit} greater than 0")
    return number


def show(report: dict[str, Any]) -> None:
    """The result as rich tables on stdout: the windows, one row per metric, the out-of-scope topics, the verdict."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from evals.drift_stats import show as value

    out = Console()
    w = report["windows"]
    modes = report["modes"] if isinstance(report["modes"], str) else ", ".join(report["modes"])
    out.print(f"Current  {_span(w['current'])}: {w['current']['conversations']:,} conversations\n"
              f"Baseline {_span(w['baseline'])}: {w['baseline']['conversations']:,} conversations\n"
              f"Modes: {modes}. Policy: {report.get('policy', '-')}", highlight=False)
    grid = Table("metric", "baseline", "current", "alerts if", "counts (current / baseline)", "p", "status",
                 title="Drift", title_justify="left")
    for m in report["metrics"]:
        side = ">" if m["direction"] == "rise" else "<"
        grid.add_row(m["metric"], value(m["baseline"], m["unit"]), value(m["current"], m["unit"]),
                     f"{side} {value(m['limit'], m['unit'])}" if m["limit"] is not None else "-",
                     _counts(m["counts"]), f"{m['p_value']:.2g}" if m["p_value"] is not None else "-",
                     STATUS_TEXT[m["status"]], style=STATUS_STYLE[m["status"]] if m["status"] != "ok" else None)
    out.print(grid)
    if report["topics"]:
        topics = Table("topic (top terms)", "conv.", "share", "baseline", "new", "examples (stored, redacted)",
                       title="Out-of-scope topics: intent candidates", title_justify="left")
        for t in report["topics"]:
            topics.add_row(escape(", ".join(t["terms"])), str(t["conversations"]), value(t["share"], "share"),
                           f"{t['baseline_conversations']} ({value(t['baseline_share'], 'share')})",
                           "ALERT" if t["alert"] else "yes" if t["new"] else "no",
                           escape(" | ".join(t["examples"])), style="bold red" if t["alert"] else None)
        out.print(topics)
    else:
        out.print("Out-of-scope topics: none with enough conversations to be an intent candidate.")
    if report["status"] == "not_enough_data":  # the message says so itself
        out.print(f"[bold yellow]{escape(report['message'])}[/]", soft_wrap=True)
    else:
        style = "bold red" if report["status"] == "alert" else "bold green"
        out.print(f"[{style}]{STATUS_TEXT[report['status']]}:[/] {escape(report['message'])}", soft_wrap=True)
    for alert in report["alerts"]:
        out.print(f"  - {escape(alert['message'])}", highlight=False, soft_wrap=True)


def _span(window: dict[str, Any]) -> str:
    def moment(ts: float) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M")

    return f"{moment(window['since'])} → {moment(window['until'])} UTC"


def _counts(counts: dict[str, Any]) -> str:
    cur, base = counts["current"], counts["baseline"]
    if "n" in cur:
        return f"n={cur['n']:,} / n={base['n']:,}"
    return f"{cur['events']:,}/{cur['of']:,} / {base['events']:,}/{base['of']:,}"
