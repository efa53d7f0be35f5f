"""`bot chat`: the terminal front end.

With a TTY: a rich chat with streamed replies and a clear moment when a person takes over. Without one (a pipe, a
file, a test): one customer message per input line, one JSON object per bot turn on stdout (CONTRACTS §1), and
nothing else on stdout — progress and errors go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO

from rich.console import Console
from rich.panel import Panel

from bot.engine import Engine, TurnResult

REASON_TEXT = {
    "customer_request": "you asked for a person",
    "negative_sentiment": "this needs a human touch",
    "repeated_failure": "my answers did not help",
    "high_stakes": "this needs a specialist",
    "vip_customer": "you are a VIP customer",
    "low_confidence": "I could not understand well enough",
    "guardrail": "I could not answer safely",
    "system_error": "I had a technical problem",
}


def decode_lines(stream: IO[bytes]) -> Iterator[str]:
    """Input lines as text; undecodable bytes become U+FFFD, which the input checks turn into a clear refusal."""
    for raw in stream:
        yield raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def run_json(engine: Engine, conversation_id: str, lines: Iterable[str], out: IO[str]) -> int:
    """Non-interactive chat: one JSON object per turn. Returns the number of turns."""
    count = 0
    for line in lines:
        result = engine.turn(conversation_id, line)
        out.write(json.dumps(result.contract(), ensure_ascii=False) + "\n")
        out.flush()
        count += 1
    return count


def run_tty(engine: Engine, conversation_id: str, console: Console) -> None:
    record = engine.db.conversation(conversation_id) or {}
    customer = record.get("customer", {})
    customer_label = (
        f"{customer.get('name')} ({customer.get('id')}, {customer.get('tier')})" if customer.get("known") else "a guest"
    )
    console.print(
        Panel.fit(
            f"[bold]{engine.deps.policies.messages.store_name}[/] support — you are {customer_label}.\n"
            f"Conversation [cyan]{conversation_id}[/] (resume with --conversation {conversation_id}).\n"
            "Type your message and press Enter; Ctrl-D or /quit to leave.",
            title="bot chat",
        )
    )
    handed_off = engine.waiting_for_human(conversation_id)
    while True:
        try:
            text = console.input("[bold green]you[/] › ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if text.strip() in ("/quit", "/exit"):
            break
        console.print("[bold blue]bot[/] › ", end="")
        streamed: list[str] = []

        def show(chunk: str) -> None:
            streamed.append(chunk)
            console.print(chunk, end="", markup=False, highlight=False, soft_wrap=True)

        try:
            result: TurnResult = engine.turn(conversation_id, text, on_text=show)
        except KeyboardInterrupt:
            console.print("\n[dim](interrupted)[/]")
            continue
        if not streamed:
            console.print(result.reply, end="", markup=False, highlight=False, soft_wrap=True)
        console.print()
        if result.handoff and not handed_off:
            why = REASON_TEXT.get(result.handoff_reason or "", result.handoff_reason or "")
            console.print(
                Panel.fit(f"Handed to a human agent ({why}). Messages you send now go to the agent's queue.",
                          style="yellow", title="handoff")
            )
        handed_off = result.handoff
    console.print(f"[dim]Conversation {conversation_id} saved.[/]")
