"""`bot chat`: the terminal front end.

With a TTY: a rich chat with streamed replies and a clear moment when a person takes over. Without one (a pipe, a
file, a test): one customer message per input line, one JSON object per bot turn on stdout (CONTRACTS §1), and
nothing else on stdout — progress and errors go to stderr.

CSAT: a reply that ends with the rating question (a goodbye, or an agent's resolve notice) gets a hint in the TTY,
and the JSON object of that turn has `"csat_asked": true` (the key is there only then). The next line is read as the
answer when it is a rating. When the customer leaves (/quit, Ctrl-D, the end of the input) the engine records the
proxy, labelled proxy, unless they rated (`Engine.end`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from rich.console import Console
from rich.markup import escape
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
CSAT_HINT = "type a number from 1 to 5, or just keep writing"


def decode_lines(stream: IO[bytes]) -> Iterator[str]:
    """Input lines as text; undecodable bytes become U+FFFD, which the input checks turn into a clear refusal."""
    for raw in stream:
        yield raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def run_json(engine: Engine, conversation_id: str, lines: Iterable[str], out: IO[str]) -> int:
    """Non-interactive chat: one JSON object per turn. Returns the number of turns."""
    count = 0
    for line in lines:
        result = engine.turn(conversation_id, line)
        turn = result.contract()
        if result.csat_asked:  # an optional key, only when true (CONTRACTS §1 lists the keys always there)
            turn["csat_asked"] = True
        out.write(json.dumps(turn, ensure_ascii=False) + "\n")
        out.flush()
        count += 1
    engine.end(conversation_id)  # the end of the input: the customer left (the proxy, unless they rated)
    return count


class AgentWatcher(threading.Thread):
    """Shows an agent's messages (and the desk's notices: resolved, back with the AI) as they arrive.

    The agent desk usually runs in another process, so the chat polls the conversation log (one indexed query a
    second) instead of waiting for its own turns.
    """

    def __init__(self, engine: Engine, conversation_id: str, show: Callable[[str], None],
                 interval: float = 1.0) -> None:
        super().__init__(name="agent-watcher", daemon=True)
        self.engine, self.conversation_id, self.show, self.interval = engine, conversation_id, show, interval
        self.stop = threading.Event()
        self.seen = engine.db.last_seq(conversation_id)
        pii = engine.deps.policies.rails.pii
        self._phrases = {k.placeholder: k.spoken_as for k in pii.kinds.values()}

    def poll(self) -> list[str]:
        """Agent messages since the last poll, with placeholders said in words (the log holds them redacted)."""
        from bot.rails.placeholders import spoken

        fresh = self.engine.db.messages_after(self.conversation_id, self.seen)
        if fresh:
            self.seen = fresh[-1]["seq"]
        return [spoken(m["text"], self._phrases) for m in fresh if m["role"] in ("agent", "system")]

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                for text in self.poll():
                    self.show(text)
            except Exception:  # a locked or closed database: try again next second, never kill the chat
                continue


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
    question = engine.deps.policies.messages.get("csat.ask")

    def hint() -> None:
        console.print(f"[dim]({CSAT_HINT})[/]")

    def from_desk(text: str) -> None:
        console.print(f"\n[bold magenta]agent[/] › {escape(text)}", soft_wrap=True)
        if text.rstrip().endswith(question):  # resolved by the agent: the notice ends with the rating question
            hint()

    watcher = AgentWatcher(engine, conversation_id, from_desk)
    watcher.start()
    if handed_off:
        console.print(Panel.fit("A person from our team has this conversation; their replies appear here.",
                                style="yellow", title="waiting for an agent"))
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
        if result.csat_asked:
            hint()
        if result.handoff and not handed_off:
            why = REASON_TEXT.get(result.handoff_reason or "", result.handoff_reason or "")
            console.print(
                Panel.fit(f"Handed to a human agent ({why}). Messages you send now go to the agent's queue.",
                          style="yellow", title="handoff")
            )
        handed_off = result.handoff
    watcher.stop.set()
    engine.end(conversation_id)  # the customer left: the CSAT proxy is recorded unless they rated
    console.print(f"[dim]Conversation {conversation_id} saved.[/]")
