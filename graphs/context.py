"""What the nodes may use besides the state: the side effects, each behind a narrow interface.

LangGraph passes this to every node as `runtime.context`. Tests build it with fakes (an LLM on
`httpx.MockTransport`, a temporary store); the engine builds it once per process from the settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.checks import InputCheck, OutputCheck
from bot.handoff import HandoffQueue
from bot.policy import Policies

if TYPE_CHECKING:
    from bot.llm import LLMClient
    from bot.modes import LiveModes, ModesPolicy
    from bot.nlu import NLU
    from bot.rails.pii import Vault
    from bot.store.base import Backend
    from bot.store.kb import KnowledgeBase


class Summarizer(Protocol):
    """Writes the package's summary and suggested reply: (text, source) pairs, source "llm" or "facts"."""

    def __call__(self, package: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class Deps:
    llm: LLMClient | None  # None: no LLM reachable; the bot answers from facts and templates only
    nlu: NLU
    store: Backend
    kb: KnowledgeBase
    policies: Policies
    input_checks: list[InputCheck] = field(default_factory=list)
    output_checks: list[OutputCheck] = field(default_factory=list)
    queue: HandoffQueue | None = None  # where handoff packages wait for an agent
    llm_languages: tuple[str, ...] = ("en",)  # languages the LLM can answer in; "*" for any
    llm_vote: bool = True  # ask the LLM for a structured intent vote when the classifier is unsure
    # Expected agent wait for a handoff ({conversation_id, priority}); None when unknown. The queue fills this in.
    wait_minutes: Callable[[dict[str, Any]], float | None] = lambda handoff: None
    summarizer: Summarizer | None = None  # writes the package's summary and suggested reply (LLM, checked)
    redactor: Callable[[str], str] | None = None  # PII → placeholders, for text that skips the input rails (agents)
    vault: Vault | None = None  # raw personal data behind the placeholders (in memory only), for the tools
    clock: Callable[[], float] = time.time
    # guardrails/modes.yaml as it is now (re-read on change); None: the policy loaded at start-up
    modes: LiveModes | None = None
    # Agents signed in who could take a handoff needing `skill` in `language`: {"online": n, "free": n} (free: below
    # their concurrency limit; slots: conversations they can still take). The presence table fills this in; with no
    # agents known, nobody is free.
    capacity: Callable[[str, str], dict[str, int]] = lambda skill, language: {"online": 0, "free": 0, "slots": 0}
    # Handoffs already waiting for an agent with `skill` and `language` (the queue ahead of a new one).
    queue_length: Callable[[str, str], int] = lambda skill, language: 0
    # The customer's other conversations since a time: {"conversations": n, "handoffs": n} (the orchestrator's
    # "customer history"); (customer id, since, this conversation's id). Guests have none.
    history: Callable[[str | None, float, str], dict[str, int]] = \
        lambda customer_id, since, conversation_id: {"conversations": 0, "handoffs": 0}
    # Where the conversation's open handoff stands in the queue (waiting | claimed | ...), None without one.
    handoff_status: Callable[[str], str | None] = lambda conversation_id: None
    # Where checked reply text goes as it is produced. The engine sets it per turn (a copy of this object), so the
    # graph runs without LangGraph's threaded stream plumbing: every node executes inline, in the caller's thread.
    emit: Callable[[str], None] = lambda text: None
    # The customer's raw message for this run, also set per run by the engine. It travels here, not in the state,
    # because the state is checkpointed: only the redacted text that `input_checks` makes of it is ever stored.
    inbox: str | None = None
    # How the message was heard on a phone call ({"confidence", "engine"} from speech recognition); None in chat.
    # Also per run: it describes this one message.
    heard: dict[str, Any] | None = None

    def redact(self, text: str) -> str:
        """`text` with personal data replaced by placeholders (as is when no redactor is configured)."""
        return self.redactor(text) if self.redactor is not None and text else text

    def mode_policy(self) -> ModesPolicy:
        return self.modes.current() if self.modes is not None else self.policies.modes

    def speaks(self, language: str) -> bool:
        return "*" in self.llm_languages or language in self.llm_languages
