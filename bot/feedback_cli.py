"""The feedback loop in the terminal: agents flag (`bot agent flag|flags|unflag|review`), QA exports the flags as eval
cases (`bot feedback export`), a person reads the rule suggestions (`bot feedback suggest`), and `bot train` retrains
the intent classifier from the corrections (activated only when it loses on no gated metric).

Thin shells over bot/feedback.py, evals/feedback_export.py, evals/suggest.py and evals/train.py; every refusal is one
error line and exit 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

feedback_app = typer.Typer(help="Agents' flags: list them, export them as eval cases, rule suggestions.",
                           no_args_is_help=True)
out = Console()


def _window(since_days: Optional[float]) -> float:
    from bot.cli import fail

    if since_days is None:
        return 0.0
    if not 0 <= since_days < 100_000:
        fail(f"--since-days {since_days}: expected a number of days, 0 or more")
    return time.time() - since_days * 86400


SINCE = typer.Option(None, "--since-days", metavar="N", help="Only flags of the last N days.")
AGENT = typer.Option(None, "--agent", help="Your agent name (default: $BOT_AGENT or your login).")


# -- bot agent ... ------------------------------------------------------------------------------------------------
def register(agent_app: typer.Typer) -> None:
    """Add the flagging commands to `bot agent`."""
    agent_app.command("review")(review)
    agent_app.command("flag")(flag)
    agent_app.command("flags")(flags)
    agent_app.command("unflag")(unflag)


def review(conversation: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """Any stored conversation, turn by turn, with the bot's reading of each message (intent, confidence,
    sentiment, blocked) and its flags: what you look at before flagging."""
    from bot.agent_cli import _desk

    with _desk() as d:
        stored = d.engine.db.conversation(conversation)
        if stored is None:
            raise ValueError(f"no conversation {conversation}")
        rows = numbered(d.engine.db.transcript(conversation))
        flagged = d.feedback.flags(conversation_id=conversation)
        if json_out:
            sys.stdout.write(json.dumps({"conversation": {k: stored[k] for k in (
                "id", "channel", "status", "handoff_reason", "handoff_turn", "operating_mode", "cohort")},
                "turns": rows, "flags": [f.as_json() for f in flagged]}, ensure_ascii=False) + "\n")
            return
        out.print(f"[bold]{escape(conversation)}[/] {stored['channel']}, {stored['status']}"
                  + (f", handed off at turn {stored['handoff_turn']} ({stored['handoff_reason']})"
                     if stored["handoff_reason"] else ", not handed off"), highlight=False)
        grid = Table("turn", "who", "text", "intent (conf.)", "sentiment", "blocked", show_lines=False)
        for r in rows:
            reading = f"{r['intent']} ({r['confidence']:.2f})" if r.get("confidence") is not None else (
                r.get("intent") or "")
            grid.add_row(str(r["customer_turn"] or ""), r["role"], escape(r["text"][:300]), reading,
                         "" if r.get("sentiment") is None or r["role"] != "bot" else f"{r['sentiment']:+.2f}",
                         "yes" if r.get("blocked") else "")
        out.print(grid)
        for f in flagged:
            out.print(f"flag {f.id} ({escape(f.agent)}): {flag_line(f.as_json())}", highlight=False)


def flag(
    conversation: str,
    kind: str = typer.Argument(..., help="misrouted | wrong_intent | bad_answer | rail_false_positive | "
                                         "rail_false_negative"),
    turn: Optional[int] = typer.Option(None, "--turn", help="The customer turn (1 = their first message)."),
    intent: Optional[str] = typer.Option(None, "--intent", help="wrong_intent: the right intent."),
    handoff: Optional[bool] = typer.Option(None, "--handoff/--no-handoff",
                                           help="misrouted: it should (not) have gone to a person."),
    reason: Optional[str] = typer.Option(None, "--reason", help="misrouted --handoff: the right handoff reason."),
    reply: Optional[str] = typer.Option(None, "--reply", help="bad_answer: what the bot should have said."),
    wrong: list[str] = typer.Option([], "--wrong", help="bad_answer: words of the bot's reply that were wrong "
                                                        "(repeatable; they become must_not_contain)."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (personal data is replaced by placeholders)."),
    agent: Optional[str] = AGENT,
) -> None:
    """Flag a mistake of the bot in any conversation; it becomes an eval case and, for intents, a training label."""
    from bot.agent_cli import _agent, _desk

    with _desk() as d:
        made = d.flag(conversation, _agent(agent), kind, turn=turn, intent=intent, handoff=handoff, reason=reason,
                      reply=reply, must_not_contain=wrong, note=note)
        out.print(f"flagged {conversation} ({made.id}): {flag_line(made.as_json())}", highlight=False)


_FIELDS = {"intent": str, "reason": str, "reply": str, "note": str, "handoff": bool, "wrong": list}


def desk_flag(desk: Any, conversation: str, agent: str, rest: str) -> Any:
    """The desk loop's `flag <kind> [turn] key=value…` (`handoff=yes|no`, `wrong=` repeatable)."""
    import shlex

    from bot.agent_cli import UsageError
    from bot.desk import _BOOLS

    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"flag: {exc}") from None
    if not words:
        raise UsageError("flag <kind> [turn] key=value…, e.g. flag wrong_intent 2 intent=billing")
    kind, words = words[0], words[1:]
    turn = int(words.pop(0)) if words and words[0].isdigit() else None
    options: dict[str, Any] = {"must_not_contain": []}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or key not in _FIELDS:
            raise UsageError(f"flag: {word!r} is not key=value with key one of {', '.join(_FIELDS)}")
        if _FIELDS[key] is bool:
            if value.lower() not in _BOOLS:
                raise UsageError(f"flag: {key} is yes or no, got {value!r}")
            options[key] = _BOOLS[value.lower()]
        elif key == "wrong":
            options["must_not_contain"].append(value)
        else:
            options[key] = value
    return desk.flag(conversation, agent, kind, turn=turn, **options)


def flags(conversation: Optional[str] = typer.Option(None, "--conversation"),
          kind: Optional[str] = typer.Option(None, "--kind"), mine: bool = typer.Option(False, "--mine"),
          since_days: Optional[float] = SINCE, agent: Optional[str] = AGENT,
          json_out: bool = typer.Option(False, "--json")) -> None:
    """The flags made so far, oldest first."""
    from bot.agent_cli import _agent, _desk

    with _desk() as d:
        found = d.feedback.flags(since=_window(since_days), conversation_id=conversation, kind=kind,
                                 agent=_agent(agent) if mine else None)
        show_flags([f.as_json() for f in found], json_out)


def unflag(flag_id: str, agent: Optional[str] = AGENT) -> None:
    """Withdraw one of your flags."""
    from bot.agent_cli import _agent, _desk

    with _desk() as d:
        d.feedback.withdraw(flag_id, _agent(agent))
        out.print(f"withdrew {flag_id}")


# -- bot feedback ... ---------------------------------------------------------------------------------------------
@feedback_app.command("list")
def list_(kind: Optional[str] = typer.Option(None, "--kind"), since_days: Optional[float] = SINCE,
          json_out: bool = typer.Option(False, "--json")) -> None:
    """Every flag, oldest first."""
    with _feedback() as (_, feedback):
        show_flags([f.as_json() for f in feedback.flags(since=_window(since_days), kind=kind)], json_out)


@feedback_app.command("export")
def export(out_path: Path = typer.Option(..., "--out", "-o", help="The JSONL file to write (replaced)."),
           kind: Optional[str] = typer.Option(None, "--kind"), since_days: Optional[float] = SINCE) -> None:
    """Flagged conversations as eval cases (CONTRACTS §4): `bot eval OUT` replays them as regression tests."""
    from bot.cli import err, fail
    from evals.feedback_export import export_cases, write_jsonl

    if out_path.is_dir():
        fail(f"--out {out_path}: is a directory")
    with _feedback() as (db, feedback):
        cases = export_cases(db, feedback.flags(since=_window(since_days), kind=kind))
    try:
        write_jsonl(cases, out_path)
    except OSError as exc:
        fail(f"--out {out_path}: cannot write there ({exc.strerror or exc})")
    graded = sum(1 for c in cases if c["expect"])
    err.print(f"wrote {len(cases)} case(s) to {out_path} ({graded} with expectations); "
              f"run them with: bot eval {out_path}", soft_wrap=True)  # one line: the command can be copied


@feedback_app.command("suggest")
def suggest(since_days: Optional[float] = SINCE, json_out: bool = typer.Option(False, "--json")) -> None:
    """Rule and threshold changes the flags point at, with what each would have changed, for a person to accept
    (nothing is changed here)."""
    from bot.cli import _settings
    from bot.policy import PolicyError, load_policies
    from evals.suggest import suggestions

    with _feedback() as (db, feedback):
        try:
            policies = load_policies(_settings().policy_dir)
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        found = suggestions(db, feedback.flags(since=_window(since_days)), policies)
    if json_out:
        sys.stdout.write(json.dumps(found, ensure_ascii=False, indent=1) + "\n")
        return
    if not found:
        out.print("No suggestions: no flag points at a rule or threshold.")
    for s in found:
        out.print(f"[bold]{escape(s['rule'])}[/]: {escape(s['finding'])}", highlight=False)
        out.print(f"  suggestion: {escape(s['suggestion'])}", highlight=False)
        if s.get("effect"):
            out.print(f"  effect: {escape(s['effect'])}", style="dim", highlight=False)


def train(
    since_days: Optional[float] = SINCE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only: never activate the new model."),
    rollback: bool = typer.Option(False, "--rollback", help="Go back to the model active before (or the shipped "
                                                            "one) and stop."),
    gate_set: list[Path] = typer.Option([], "--gate-set", help="Eval sets the before/after comparison replays "
                                        "(repeatable; default: the CI gate sets evals/core.jsonl "
                                        "evals/escalation.jsonl)."),
    workers: int = typer.Option(2, "--workers", min=1, max=16, help="Replay processes."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the before/after report (JSON) here."),
) -> None:
    """Retrain the intent classifier with agents' corrected labels; the new model is activated only when no gated
    metric (the CI thresholds) is worse than the current model's on the gate sets. Exit 0 activated (or dry run),
    1 refused, 2 bad input."""
    from bot.cli import _settings, _setup_logging, err, fail
    from bot.cli_io import check_writable, write_json
    from bot.nlu import registry
    from evals.train import TrainError, TrainOptions
    from evals.train import train as run

    settings = _settings()
    _setup_logging(settings, False)
    cache_dir = settings.data_dir / "nlu"
    if rollback:
        from bot.model_sync import publish

        try:
            now = registry.rollback(cache_dir)
            with _feedback() as (db, _):
                publish(db, cache_dir)  # the other hosts follow (bot/model_sync.py)
        except ValueError as exc:
            fail(str(exc))
        err.print(f"intent model now: {'the shipped model' if now is None else now.model}")
        return
    options = TrainOptions(since=_window(since_days), dry_run=dry_run, workers=workers)
    if gate_set:
        options.gate_sets = tuple(gate_set)
    if json_path is not None:
        try:
            check_writable(json_path)
        except ValueError as exc:
            fail(str(exc))
    with _feedback() as (db, feedback):
        try:
            result = run(settings, db, feedback.flags(since=options.since), options,
                         progress=lambda m: err.print(f"[dim]{escape(m)}[/]"))
        except TrainError as exc:
            fail(str(exc))
    if json_path is not None:
        try:
            write_json(json_path, result)
        except ValueError as exc:
            fail(str(exc))
    show_training(result)
    raise typer.Exit(1 if result["decision"] == "refused" else 0)


# -- shared ---------------------------------------------------------------------------------------------------------
def _feedback():  # type: ignore[no-untyped-def]
    """(db, Feedback) on the configured database, without building an engine (no model, no rails)."""
    from contextlib import contextmanager

    @contextmanager
    def opened():  # type: ignore[no-untyped-def]
        from bot.cli import _settings, fail
        from bot.cli_io import stored_database
        from bot.feedback import Feedback

        try:
            with stored_database(_settings()) as db:
                yield db, Feedback(db, redact=lambda text: text)  # read-only here: nothing typed is stored
        except ValueError as exc:
            fail(str(exc))

    return opened()


def numbered(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transcript rows with `customer_turn`: the 1-based customer turn each row belongs to (what flags name)."""
    rows, numbers = [], {}
    for t in transcript:
        if t["role"] == "customer":
            numbers.setdefault(t.get("turn"), len(numbers) + 1)
        rows.append({**t, "customer_turn": numbers.get(t.get("turn"))})
    return rows


def flag_line(f: dict[str, Any]) -> str:
    c, turn = f["correction"], f"turn {f['turn']}: " if f.get("turn") else ""
    said = (f["observed"].get("turn") or {})
    if f["kind"] == "wrong_intent":
        text = f"{turn}intent {said.get('intent')} -> {c['intent']}"
    elif f["kind"] == "misrouted":
        was = f["observed"].get("handoff_reason") or "no handoff"
        text = f"{turn}{was} -> " + (f"handoff ({c['handoff_reason']})" if c["handoff"] else "no handoff")
    elif f["kind"] == "bad_answer":
        text = f"{turn}bad answer; should say: {c['reply'][:80]}"
    else:
        text = f"{turn}{f['kind'].replace('_', ' ')}"
    return text + (f" — {f['note']}" if f.get("note") else "")


def show_flags(found: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        sys.stdout.write(json.dumps(found, ensure_ascii=False) + "\n")
        return
    if not found:
        out.print("No flags.")
        return
    grid = Table("flag", "when (UTC)", "agent", "conversation", "kind", "what")
    for f in found:
        grid.add_row(f["id"], time.strftime("%Y-%m-%d %H:%M", time.gmtime(f["created_at"])), escape(f["agent"]),
                     f["conversation_id"], f["kind"], escape(flag_line(f)))
    out.print(grid)


def show_training(r: dict[str, Any]) -> None:
    colour = {"activated": "green", "dry_run": "yellow", "refused": "red"}[r["decision"]]
    out.print(f"[bold {colour}]{r['decision']}[/]: {escape('; '.join(r['why']))}", highlight=False)
    c = r["corrections"]
    out.print(f"corrections: {c['n']}; read right by the current model {c['right_before']}, by the new one "
              f"{c['right_after']}", highlight=False)
    grid = Table("gated metric", "current", "new", "threshold", "better", "result",
                 title=f"Gate sets: {', '.join(Path(p).name for p in r['gate_sets'])}", title_justify="left")
    for g in r["gate"]:
        grid.add_row(g["metric"], _num(g["before"]), _num(g["after"]), _num(g["threshold"]), g["better"],
                     "[red]worse[/]" if g["lost"] else "ok")
    out.print(grid)
    fb = r["feedback_cases"]
    if fb["before"]:
        out.print(f"flagged conversations as eval cases: failing {fb['before']['failed']} of "
                  f"{fb['before']['conversations']} with the current model, {fb['after']['failed']} with the new one",
                  highlight=False)
    out.print(f"current model: {r['current_model']}", style="dim", highlight=False)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
