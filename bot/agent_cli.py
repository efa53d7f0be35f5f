"""`bot agent`: the agent desk in the terminal (typer + rich), a thin shell over :class:`bot.desk.Desk`.

Every subcommand opens the shared database (`BOT_DB_URL`), so the desk can run beside `bot chat` in another process
or on another machine. The LLM is connected only when the AI is asked to draft. `desk` is an interactive loop over
the same actions that also reads commands from a pipe (one per line). `signin`, `away`, `signout` and `who` only
touch the presence table (`bot/presence.py`), so they open the database without building an engine.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:  # the desk pulls in the engine (LangGraph…): imported only when a command runs
    from bot.desk import Desk, View
    from bot.presence import AgentPresence, Presence
    from bot.queue import Entry

log = logging.getLogger(__name__)


class UsageError(ValueError):
    """A mistake in a command line (shown as one error line, like the desk's own refusals)."""

agent_app = typer.Typer(help="The agent desk: the handoff queue, packages, replies, AI assist.",
                        invoke_without_command=True)
assist_app = typer.Typer(help="AI assist: the AI drafts a reply, runs a tool or looks up the knowledge base for you.",
                         no_args_is_help=True)
agent_app.add_typer(assist_app, name="assist")
from bot.accounts_cli import user_app  # noqa: E402

agent_app.add_typer(user_app, name="user")

out = Console()
COLOURS = {"urgent": "bold red", "high": "yellow", "normal": "green"}
ROLES = {"customer": "bold green", "bot": "bold blue", "agent": "bold magenta", "system": "dim"}
PRESENCE_COLOURS = {"online": "green", "away": "yellow", "offline": "dim"}
AGENT = typer.Option(None, "--agent", help="Your agent name (default: $BOT_AGENT or your login).")
SKILLS = typer.Option([], "--skill", help="Only handoffs needing this skill (repeatable).")
LANGUAGES = typer.Option([], "--language", help="Only handoffs in this language (repeatable).")


def _agent(name: str | None) -> str:
    return name or os.environ.get("BOT_AGENT") or getpass.getuser() or "agent"


@contextmanager
def _desk() -> Iterator[Desk]:
    """A desk on the configured database; every QueueError / ValueError becomes one error line and exit 2."""
    from bot.cli import _settings, _setup_logging, build_engine, fail
    from bot.desk import Desk

    # No guardrail Guards here (they take seconds to load): an agent's words are not screened, only redacted.
    settings = dataclasses.replace(_settings(), rails=False)
    _setup_logging(settings, False)
    engine = build_engine(settings)
    try:
        yield Desk(engine)
    except (ValueError, TimeoutError) as exc:  # QueueError is a ValueError
        fail(str(exc))
    finally:
        engine.close()


@contextmanager
def _presence() -> Iterator[Presence]:
    """The presence table on the configured database (no engine: signing in should not wait for models)."""
    from bot.cli import _settings, fail
    from bot.persistence import Database
    from bot.policy import PolicyError, load_policies
    from bot.presence import Presence

    settings = _settings()
    try:
        policy = load_policies(settings.policy_dir).handoff
        db = Database.from_settings(settings)
    except (PolicyError, ValueError) as exc:
        fail(str(exc))
    try:
        yield Presence(db, policy=policy)
    except (ValueError, TimeoutError) as exc:
        fail(str(exc))
    finally:
        db.close()


def sign_in(presence: Presence, agent: str, skills: list[str], languages: list[str],
            max_concurrent: int | None) -> AgentPresence:
    """Sign in; what is not given keeps its last value (first time: any skill, English, 3). `--skill any` clears
    the skills (any skill) — so that coming back from `away` is just `signin`."""
    before = presence.get(agent)
    chosen = () if "any" in skills else tuple(skills) if skills else (before.skills if before else ())
    return presence.sign_in(agent, chosen, tuple(languages) or (before.languages if before else ("en",)),
                            max_concurrent if max_concurrent is not None else before.max_concurrent if before else 3)


def presence_line(me: AgentPresence) -> str:
    return (f"{escape(me.agent)} is [{PRESENCE_COLOURS.get(me.status, '')}]{me.status}[/]: skills "
            f"{', '.join(me.skills) or 'any'}; languages {', '.join(me.languages)}; "
            f"{me.load} of {me.max_concurrent} conversations")


def roster_table(roster: list[AgentPresence]) -> Table:
    table = Table(title="agents")
    for name in ("agent", "status", "skills", "languages", "load/max"):
        table.add_column(name)
    for a in roster:
        table.add_row(escape(a.agent), f"[{PRESENCE_COLOURS.get(a.status, '')}]{a.status}[/]",
                      ", ".join(a.skills) or "any", ", ".join(a.languages), f"{a.load}/{a.max_concurrent}")
    return table


def _connect(desk: Desk) -> None:
    """The LLM for drafts (the embedded model is started only now)."""
    from bot.cli import _settings, connect_llm

    if desk.engine.deps.llm is None:
        desk.engine.deps.llm = connect_llm(_settings())


# -- rendering ------------------------------------------------------------------------------------------------------
def queue_table(entries: list[Entry], width: int = 80) -> Table:
    """The queue; on a wide terminal also the language and the start of each summary."""
    wide = width >= 140
    table = Table(title="handoff queue", expand=True)
    for name in ("#", "priority", "waits"):
        table.add_column(name, no_wrap=True)
    table.add_column("conversation", no_wrap=True, min_width=14)
    for name in ("customer", "reason", "topic / skill", "status") + (("lang", "summary") if wide else ()):
        table.add_column(name)
    for n, e in enumerate(entries, 1):
        p, c = e.package, e.package.get("customer") or {}
        who = f"{c.get('name') or 'guest'} ({c.get('tier')})"
        status = e.status + (f" by {e.claimed_by}" if e.claimed_by else "")
        row = [str(n), f"[{COLOURS.get(e.priority, '')}]{e.priority}[/]", f"{e.waiting_minutes:.0f} min",
               p["conversation_id"], escape(who), p["reason"],
               f"{p.get('topic') or p.get('intent') or '-'} / {p.get('skill', '-')}", status]
        if wide:
            row += [p.get("language", "-"), escape(_clip(p.get("summary", ""), 90))]
        table.add_row(*row)
    return table


def show_view(view: View, console: Console = out, operating: dict[str, Any] | None = None) -> None:
    """The package, top down; `operating` (bot.operating.snapshot) adds who acts: mode, cohort, the orchestrator's
    reasoning, the AI holding the customer or on a task."""
    p, e = view.package, view.entry
    c = p.get("customer") or {}
    header = (f"[bold]{escape(c.get('name') or 'guest')}[/] ({c.get('id') or 'no account'}, {c.get('tier')}, "
              f"{c.get('language')}) · {p.get('channel')} · [{COLOURS.get(e.priority, '')}]{e.priority}[/] · "
              f"{e.status}{' by ' + e.claimed_by if e.claimed_by else ''} · waiting {e.waiting_minutes:.0f} min\n"
              f"reason [bold]{p['reason']}[/]: {escape(p.get('evidence', ''))}")
    if p.get("returning"):
        r = p["returning"]
        header += (f"\n[yellow]returning[/] after {r['handbacks']} hand-back(s) by {escape(str(r.get('last_agent')))}:"
                   f" {escape(str(r.get('note') or ''))}")
    if operating:
        header += "\n" + operating_lines(operating)
    console.print(Panel(header, title=p["conversation_id"]))
    console.print(Panel(escape(p.get("summary", "")), title=f"summary ({p.get('summary_source', 'facts')})"))
    actions = "\n".join(f"• {escape(a)}" for a in p.get("suggested_actions", []))
    if p.get("suggested_tools"):
        actions += "\n[dim]tools: " + ", ".join(p["suggested_tools"]) + "[/]"
    console.print(Panel(actions, title="suggested next actions"))
    console.print(Panel(escape(p.get("suggested_reply", "")),
                        title=f"suggested reply ({p.get('suggested_reply_source', 'facts')})"))
    facts = ", ".join(f"{k}: {v}" for k, v in (p.get("facts") or {}).items() if v) or "none"
    done = "\n".join(f"{'✓' if a.get('ok') else '✗'} {a.get('tool')}"
                     f" {escape(json.dumps(a.get('args') or {}, ensure_ascii=False))} → "
                     f"{escape(str(a.get('result')))}{' (by ' + a['by'] + ')' if a.get('by') else ''}"
                     for a in p.get("actions_taken") or []) or "none"
    console.print(Panel(f"facts: {escape(facts)}\n{done}", title="facts and actions taken"))
    trail = "".join(f"\n  t{t['turn']}: {t['sentiment']:+.2f}  {escape(_clip(t.get('text') or '', 60))}"
                    for t in p.get("sentiment_trail") or [] if t.get("sentiment") is not None)
    events = "; ".join(f"{g.get('rail')}/{g.get('action')}: {g.get('reason')}" for g in p.get("guardrail_events") or [])
    console.print(Panel(f"sentiment: {trail or 'none'}\nguardrail events: {escape(events) or 'none'}",
                        title="signals"))
    lines = [f"[{ROLES.get(t['role'], '')}]{t['role']}[/] › {escape(t['text'])}" for t in p.get("transcript", [])]
    console.print(Panel("\n".join(lines) or "(empty)", title="transcript"))


def operating_lines(o: dict[str, Any]) -> str:
    """Who acts, in one to three short lines: mode and cohort; the orchestrator's last reasoning; the AI's work."""
    lines = [f"mode [bold]{escape(str(o['operating_mode']))}[/] (cohort {escape(str(o['cohort']))})"]
    orchestration = o.get("orchestration") or {}
    if orchestration.get("why"):
        score = orchestration.get("score")
        scored = f", score {score:g} of {orchestration.get('threshold', 0):g}" \
            if isinstance(score, (int, float)) and isinstance(orchestration.get("threshold"), (int, float)) else ""
        lines[0] += (f" · orchestrator ({escape(str(orchestration.get('acts') or '-'))}{scored}): "
                     f"{escape(_clip(str(orchestration['why']), 120))}")
    task = o.get("delegation")
    if task:
        lines.append(f"[cyan]the AI is on a task[/] ({escape(str(task.get('task')))} for "
                     f"{escape(str(task.get('agent')))}): collecting {escape(str(task.get('collecting')))}")
    elif o.get("holding"):
        lines.append("[cyan]the AI is holding[/]: it keeps helping the customer until an agent takes the conversation")
    return "\n".join(lines)


def passages_view(passages: list[dict[str, Any]], console: Console = out) -> None:
    """Knowledge-base passages for the agent: title and score, the text (clipped), where it comes from."""
    if not passages:
        console.print("nothing in the knowledge base above the threshold")
        return
    for n, found in enumerate(passages, 1):
        console.print(Panel(f"{escape(_clip(' '.join(str(found['text']).split()), 400))}\n"
                            f"[dim]source: {escape(str(found.get('source') or '-'))}[/]",
                            title=f"{n}. {escape(str(found['title']))} (score {found['score']:.2f})"))


def _operating(desk: Desk, conversation_id: str, view: View) -> dict[str, Any]:
    from bot.operating import snapshot

    return snapshot(desk.engine.state(conversation_id), view.entry.status)


def _show(desk: Desk, conversation_id: str, console: Console = out) -> None:
    view = desk.show(conversation_id)
    show_view(view, console, _operating(desk, conversation_id, view))


def _delegated(desk: Desk, conversation_id: str, reply: str, console: Console = out) -> None:
    """What the AI asked the customer, and what it is collecting for the agent."""
    from bot.operating import snapshot

    console.print(f"the AI asked the customer: {escape(reply)}", soft_wrap=True)
    task = snapshot(desk.engine.state(conversation_id), None)["delegation"]
    if task:
        then = f", then runs {task['then']}" if task.get("then") else ""
        console.print(f"[dim]the AI is collecting {escape(str(task['collecting']))}{then}; the conversation comes "
                      f"back to {escape(str(task.get('agent')))} when it has them (take-back stops it)[/]",
                      soft_wrap=True)


def _tasks_usage(desk: Desk) -> str:
    from bot.operating import task_list

    return ", ".join(f"{t['name']} ({t['collects']})" for t in task_list(desk.engine.deps.mode_policy()))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _pairs(items: list[str], tool: str | None = None) -> dict[str, Any]:
    """KEY=VALUE arguments as text (the desk types them as the tool declares: `limit=3`, `damaged=yes`)."""
    args: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"tool arguments are KEY=VALUE, got {item!r}")
        args[key] = value
    return args


# -- commands ---------------------------------------------------------------------------------------------------------
@agent_app.callback()
def _default(ctx: typer.Context) -> None:
    """With no subcommand: the interactive desk."""
    if ctx.invoked_subcommand is None:
        desk(agent=None)


@agent_app.command("queue")
def queue(json_out: bool = typer.Option(False, "--json", help="The CONTRACTS §1 JSON array."),
          skill: list[str] = SKILLS, language: list[str] = LANGUAGES,
          all_: bool = typer.Option(False, "--all", help="Claimed handoffs too.")) -> None:
    """Waiting handoffs, most urgent first."""
    with _desk() as d:
        entries = d.waiting(skills=tuple(skill), languages=tuple(language),
                            statuses=("waiting", "claimed") if all_ else ("waiting",))
        if json_out:
            sys.stdout.write(json.dumps([e.as_json() for e in entries], ensure_ascii=False) + "\n")
        elif entries:
            out.print(queue_table(entries, out.width))
        else:
            out.print("Nothing waiting.")


@agent_app.command("show")
def show(conversation: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """A handoff package, for reading: summary and suggested actions first, the transcript last."""
    with _desk() as d:
        view = d.show(conversation)
        operating = _operating(d, conversation, view)
        if json_out:
            sys.stdout.write(json.dumps(dict(view.as_json(), **operating), ensure_ascii=False) + "\n")
        else:
            show_view(view, out, operating)


@agent_app.command("claim")
def claim(conversation: str, agent: Optional[str] = AGENT) -> None:
    """Take a waiting handoff (fails if another agent has it)."""
    with _desk() as d:
        d.claim(conversation, _agent(agent))
        out.print(f"claimed {conversation} for {_agent(agent)}")


@agent_app.command("next")
def next_(agent: Optional[str] = AGENT, skill: list[str] = SKILLS, language: list[str] = LANGUAGES) -> None:
    """Claim the most urgent handoff you can take (your skills and languages)."""
    with _desk() as d:
        entry = d.claim_next(_agent(agent), skills=tuple(skill), languages=tuple(language))
        if entry is None:
            out.print("Nothing waiting for you.")
            return
        _show(d, entry.package["conversation_id"])


@agent_app.command("release")
def release(conversation: str, agent: Optional[str] = AGENT) -> None:
    """Put a handoff you claimed back in the queue."""
    with _desk() as d:
        d.release(conversation, _agent(agent))
        out.print(f"released {conversation}")


@agent_app.command("reply")
def reply(conversation: str, text: Optional[str] = typer.Argument(None), agent: Optional[str] = AGENT,
          draft: bool = typer.Option(False, "--draft", help="Send the AI's draft instead (with --yes)."),
          yes: bool = typer.Option(False, "--yes", help="With --draft: send it without asking.")) -> None:
    """Send a reply to the customer (claims the handoff for you if it is waiting)."""
    with _desk() as d:
        if draft:
            _connect(d)
            written = d.draft(conversation)
            out.print(Panel(escape(written.text), title=f"draft ({written.source})"))
            if not yes:
                out.print("[dim]not sent: add --yes to send it[/]")
                return
            text = written.text
        if not text:
            raise UsageError("give the reply text (or --draft --yes)")
        d.reply(conversation, _agent(agent), text)
        out.print(f"sent to {conversation}")


@agent_app.command("resolve")
def resolve(conversation: str, agent: Optional[str] = AGENT, note: Optional[str] = typer.Option(None)) -> None:
    """Close the conversation (the customer is told)."""
    with _desk() as d:
        d.resolve(conversation, _agent(agent), note)
        out.print(f"resolved {conversation}")


@agent_app.command("hand-back")
def hand_back(conversation: str, note: str = typer.Option(..., "--note", help="What the AI should know."),
              agent: Optional[str] = AGENT) -> None:
    """Give the conversation back to the AI with a note."""
    with _desk() as d:
        d.hand_back(conversation, _agent(agent), note)
        out.print(f"{conversation} is back with the AI")


@agent_app.command("delegate")
def delegate(conversation: str, task: str = typer.Argument(..., help="A task of guardrails/modes.yaml `delegation`, "
                                                         "e.g. order_details."),
             agent: Optional[str] = AGENT) -> None:
    """Give the AI a data-gathering task: it asks the customer, runs the task's tool, and gives the conversation back
    to you (claims a waiting handoff for you first)."""
    with _desk() as d:
        result = d.delegate(conversation, _agent(agent), task)
        _delegated(d, conversation, result.reply)


@agent_app.command("take-back")
def take_back(conversation: str, agent: Optional[str] = AGENT) -> None:
    """Stop the AI's task and carry on yourself (replying does the same)."""
    with _desk() as d:
        d.take_back(conversation, _agent(agent))
        out.print(f"{conversation}: the AI's task is stopped; the conversation is yours")


@assist_app.command("draft")
def assist_draft(conversation: str, instruction: Optional[str] = typer.Option(None, "--instruction")) -> None:
    """The AI drafts a reply for you (checked against the transcript); nothing is sent."""
    with _desk() as d:
        _connect(d)
        written = d.draft(conversation, instruction)
        out.print(Panel(escape(written.text), title=f"draft ({written.source})"))
        for problem in written.problems:
            out.print(f"[dim]LLM draft refused: {escape(problem)}[/]")


@assist_app.command("tool")
def assist_tool(conversation: str, tool: str, args: list[str] = typer.Argument(None, help="KEY=VALUE ..."),
                agent: Optional[str] = AGENT) -> None:
    """The AI runs a store tool for you, as the customer; it is recorded with the actions taken."""
    with _desk() as d:
        result = d.run_tool(conversation, _agent(agent), tool, _pairs(args or [], tool))
        mark = "[green]ok[/]" if result["ok"] else f"[red]{result['code']}[/]"
        out.print(f"{mark} {escape(result['message'])}")


@assist_app.command("kb")
def assist_kb(conversation: str,
              query: list[str] = typer.Argument(None, help="What to look up (default: the customer's last message).")
              ) -> None:
    """The knowledge-base passages that answer a question, best first (only those above the KB's threshold)."""
    with _desk() as d:
        passages_view(d.lookup(conversation, " ".join(query or [])))


@agent_app.command("signin")
def signin(agent: Optional[str] = AGENT,
           skill: list[str] = typer.Option([], "--skill", help="A skill you take (repeatable; `any` for all). "
                                           "Default: as last time, else any."),
           language: list[str] = typer.Option([], "--language", help="A language you answer in (repeatable). "
                                              "Default: as last time, else en."),
           max_: Optional[int] = typer.Option(None, "--max", help="Conversations you hold at once, 1-50. "
                                              "Default: as last time, else 3.")) -> None:
    """Go online: `next` then routes you by these skills and languages, up to --max conversations."""
    with _presence() as p:
        out.print(presence_line(sign_in(p, _agent(agent), skill, language, max_)))


@agent_app.command("away")
def away(agent: Optional[str] = AGENT) -> None:
    """Step away: keep your conversations, take no new ones (`signin` to come back)."""
    with _presence() as p:
        out.print(presence_line(p.set_status(_agent(agent), "away")))


@agent_app.command("signout")
def signout(agent: Optional[str] = AGENT) -> None:
    """Go offline (your skills and limit are kept for the next `signin`)."""
    with _presence() as p:
        name = _agent(agent)
        out.print(f"{escape(name)} is offline" if p.sign_out(name) else f"{escape(name)} was not signed in")


@agent_app.command("who")
def who(json_out: bool = typer.Option(False, "--json", help="The roster as a JSON array.")) -> None:
    """Who is signed in: status, skills, languages and load."""
    with _presence() as p:
        roster = p.roster()
        if json_out:
            sys.stdout.write(json.dumps([a.as_json() for a in roster], ensure_ascii=False) + "\n")
        elif roster:
            out.print(roster_table(roster))
        else:
            out.print("Nobody has signed in.")


@agent_app.command("desk")
def desk(agent: Optional[str] = AGENT) -> None:
    """Interactive desk: `help` lists the commands. Reads one command per line from a pipe too."""
    name = _agent(agent)
    with _desk() as d:
        _Session(d, name, out).run()


class _Session:
    """The interactive loop: a current conversation, the last draft, one command per line."""

    HELP = ("queue | claim <n|id> | next | show [id] | reply <text> | draft [instruction] | send | "
            "tool <name> k=v… | kb [query] | delegate <task> | takeback | resolve [note] | back <note> | release | "
            "signin [--skill S]… [--language L]… [--max N] | away | signout | who | "
            "flag <kind> [turn] key=value… | quit")

    def __init__(self, desk: Desk, agent: str, console: Console) -> None:
        self.desk, self.agent, self.console = desk, agent, console
        self.current: str | None = None
        self.listed: list[Entry] = []
        self.last_draft: str | None = None

    def run(self) -> None:
        self.console.print(f"[bold]agent desk[/] — you are {escape(self.agent)}. {escape(self.HELP)}")
        self.queue()
        interactive = sys.stdin.isatty()
        while True:
            try:
                line = self.console.input(f"[bold magenta]{self.current or 'desk'}[/] › ") if interactive \
                    else sys.stdin.readline()
            except (EOFError, KeyboardInterrupt):
                break
            if not interactive and not line:
                break
            if line.strip() in ("quit", "exit"):
                break
            try:
                self.do(line.strip())
            except (ValueError, TimeoutError) as exc:
                self.console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            except click.exceptions.Exit:  # `fail()` (e.g. the model could not start for `draft`) said why
                continue
            except Exception as exc:  # the desk stays up: one line, the details in the log
                log.exception("desk command %r failed", line.strip())
                self.console.print(f"[bold red]error:[/] {escape(line.strip())}: {type(exc).__name__}: "
                                   f"{escape(str(exc))}", soft_wrap=True)

    def do(self, line: str) -> None:
        if not line:
            return
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        handler = getattr(self, f"cmd_{command}", None)
        if handler is None:
            raise UsageError(f"unknown command {command!r}; {self.HELP}")
        handler(rest)

    def _needs_current(self) -> str:
        if not self.current:
            raise UsageError("no conversation selected: claim one first")
        return self.current

    def queue(self) -> None:
        self.listed = self.desk.waiting(statuses=("waiting", "claimed"))
        self.console.print(queue_table(self.listed, self.console.width) if self.listed else "Nothing waiting.")

    def cmd_queue(self, rest: str) -> None:
        self.queue()

    cmd_refresh = cmd_queue

    def cmd_help(self, rest: str) -> None:
        self.console.print(escape(self.HELP))

    def cmd_claim(self, rest: str) -> None:
        target = rest
        if rest.isdigit():
            if not 1 <= int(rest) <= len(self.listed):
                raise UsageError(f"no handoff number {rest} in the list; `queue` to refresh")
            target = self.listed[int(rest) - 1].package["conversation_id"]
        if not target:
            raise UsageError("claim <number from the queue | conversation id>")
        self.desk.claim(target, self.agent)
        self.current, self.last_draft = target, None
        _show(self.desk, target, self.console)

    def cmd_next(self, rest: str) -> None:
        entry = self.desk.claim_next(self.agent)
        if entry is None:
            self.console.print("Nothing waiting for you.")
            return
        self.current, self.last_draft = entry.package["conversation_id"], None
        _show(self.desk, self.current, self.console)

    def cmd_flag(self, rest: str) -> None:
        """`flag wrong_intent 2 intent=billing note="…"`, `flag misrouted handoff=no` on the current conversation."""
        from bot.feedback_cli import desk_flag, flag_line

        made = desk_flag(self.desk, self._needs_current(), self.agent, rest)
        self.console.print(f"flagged ({made.id}): {escape(flag_line(made.as_json()))}", highlight=False)

    def cmd_show(self, rest: str) -> None:
        _show(self.desk, rest or self._needs_current(), self.console)

    def cmd_reply(self, rest: str) -> None:
        self.desk.reply(self._needs_current(), self.agent, rest)
        self.console.print("sent")

    def cmd_draft(self, rest: str) -> None:
        _connect(self.desk)
        written = self.desk.draft(self._needs_current(), rest or None)
        self.last_draft = written.text
        self.console.print(Panel(escape(written.text), title=f"draft ({written.source}) — `send` to send it"))

    def cmd_send(self, rest: str) -> None:
        if not self.last_draft:
            raise UsageError("no draft yet: `draft [instruction]` first")
        self.desk.reply(self._needs_current(), self.agent, self.last_draft)
        self.last_draft = None
        self.console.print("sent")

    def cmd_tool(self, rest: str) -> None:
        parts = shlex.split(rest)
        if not parts:
            raise UsageError("tool <name> KEY=VALUE ...")
        result = self.desk.run_tool(self._needs_current(), self.agent, parts[0], _pairs(parts[1:], parts[0]))
        self.console.print(f"{'ok' if result['ok'] else result['code']}: {escape(result['message'])}")

    def cmd_kb(self, rest: str) -> None:
        passages_view(self.desk.lookup(self._needs_current(), rest), self.console)

    def cmd_delegate(self, rest: str) -> None:
        if not rest:
            raise UsageError(f"delegate <task>: {_tasks_usage(self.desk)}")
        conversation = self._needs_current()
        result = self.desk.delegate(conversation, self.agent, rest)
        _delegated(self.desk, conversation, result.reply, self.console)

    def cmd_takeback(self, rest: str) -> None:
        self.desk.take_back(self._needs_current(), self.agent)
        self.console.print("the AI's task is stopped; the conversation is yours")

    def cmd_resolve(self, rest: str) -> None:
        self.desk.resolve(self._needs_current(), self.agent, rest or None)
        self.console.print(f"resolved {self.current}")
        self.current = None

    def cmd_back(self, rest: str) -> None:
        if not rest:
            raise UsageError("back <note for the AI>: say what the AI should know")
        self.desk.hand_back(self._needs_current(), self.agent, rest)
        self.console.print(f"{self.current} is back with the AI")
        self.current = None

    def cmd_release(self, rest: str) -> None:
        self.desk.release(self._needs_current(), self.agent)
        self.console.print(f"released {self.current}")
        self.current = None

    # -- presence -----------------------------------------------------------------------------------------------------
    def cmd_signin(self, rest: str) -> None:
        skills, languages, limit = _signin_options(shlex.split(rest))
        self.console.print(presence_line(sign_in(self.desk.engine.presence, self.agent, skills, languages, limit)))

    def cmd_away(self, rest: str) -> None:
        self.console.print(presence_line(self.desk.engine.presence.set_status(self.agent, "away")))

    def cmd_signout(self, rest: str) -> None:
        name = escape(self.agent)
        self.console.print(f"{name} is offline" if self.desk.engine.presence.sign_out(self.agent)
                           else f"{name} was not signed in")

    def cmd_who(self, rest: str) -> None:
        roster = self.desk.engine.presence.roster()
        self.console.print(roster_table(roster) if roster else "Nobody has signed in.")


def _signin_options(words: list[str]) -> tuple[list[str], list[str], int | None]:
    """`--skill S`, `--language L` (repeatable) and `--max N`, as on the command line."""
    skills: list[str] = []
    languages: list[str] = []
    limit: int | None = None
    usage = "signin [--skill S]… [--language L]… [--max N]"
    while words:
        option = words.pop(0)
        if option not in ("--skill", "--language", "--max") or not words:
            raise UsageError(usage)
        value = words.pop(0)
        if option == "--max":
            if not value.isdigit():
                raise UsageError(f"--max is a whole number from 1 to 50, got {value!r}")
            limit = int(value)
        else:
            (skills if option == "--skill" else languages).append(value)
    return skills, languages, limit
