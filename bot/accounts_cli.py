"""`bot agent user ...`: the agent accounts of the web console and the agent API (see bot/accounts.py)."""

from __future__ import annotations

import getpass
import sys

import typer
from rich.console import Console
from rich.table import Table

user_app = typer.Typer(help="Agent accounts for the web console and API (hashed passwords, API tokens).",
                       no_args_is_help=True)
err = Console(stderr=True)


def _accounts():  # type: ignore[no-untyped-def]
    from bot.accounts import Accounts
    from bot.cli import _settings

    return Accounts(_settings().agents_path)


def _fail(message: str) -> None:
    from bot.cli import fail  # not at import time: bot.cli registers this module's commands as it loads

    fail(message)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        _fail("no terminal to ask for the password: pipe it in with --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        _fail("the two passwords differ; nothing was changed")
    return first


@user_app.command("add")
def add(name: str, skill: list[str] = typer.Option([], "--skill", help="A skill (repeatable)."),
        language: list[str] = typer.Option([], "--language", help="A language code (repeatable)."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
        no_password: bool = typer.Option(False, "--no-password", help="API token only (no console login).")) -> None:
    """Add an agent, or change an existing agent's password, skills and languages."""
    from bot.accounts import AccountError

    accounts = _accounts()
    try:
        password = None if no_password else _password(password_stdin)
        agent = accounts.add(name, password, tuple(skill), tuple(language))
    except AccountError as exc:
        _fail(str(exc))
    err.print(f"[green]ok[/] agent {agent.name} saved in {accounts.path}")


@user_app.command("token")
def token(name: str) -> None:
    """Make a new API token for an agent (printed once; only its hash is kept)."""
    from bot.accounts import AccountError

    try:
        print(_accounts().new_token(name.lower()))
    except AccountError as exc:
        _fail(str(exc))


@user_app.command("remove")
def remove(name: str) -> None:
    """Remove an agent (their console sessions and tokens stop working at once)."""
    from bot.accounts import AccountError

    try:
        _accounts().remove(name.lower())
    except AccountError as exc:
        _fail(str(exc))
    err.print(f"[green]ok[/] agent {name} removed")


@user_app.command("list")
def list_() -> None:
    """List the agents (never their secrets)."""
    from bot.accounts import AccountError

    try:
        agents = _accounts().agents()
    except AccountError as exc:
        _fail(str(exc))
    table = Table("name", "password", "API tokens", "skills", "languages")
    for a in agents.values():
        table.add_row(a.name, "set" if a.password else "-", str(len(a.tokens)), ", ".join(a.skills),
                      ", ".join(a.languages))
    Console().print(table)
