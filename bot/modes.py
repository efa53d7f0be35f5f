"""Operating modes as data (guardrails/modes.yaml): which approach serves a customer, and the cohort they are in.

The guide this product comes from asks for one decision — AI-first with escalation, human-led with AI assistance, or
hybrid orchestration — made per channel and segment, tried on a pilot share of customers first, and changed without
a rebuild. So the decision is configuration: :class:`ModesPolicy` validates the file, :func:`assign` puts a
customer in a cohort (stable: a salted hash of their id), and :class:`LiveModes` re-reads the file when it changes,
keeping the last valid one when an edit is broken, so a running bot switches new conversations over without a
restart. A conversation keeps the cohort it started in (stored with it), so `bot report` compares like with like.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.taxonomy import HANDOFF_REASONS, INTENTS, only_known

log = logging.getLogger(__name__)

Mode = Literal["ai_first", "human_led", "hybrid"]
MODES: tuple[str, ...] = ("ai_first", "human_led", "hybrid")
SLOTS = ("order_id", "email")  # what a delegated task can collect from the customer
DEFAULT_COHORT = "default"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cohort(_Model):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    mode: Mode
    channels: list[str] = Field(default_factory=list)  # empty: every channel
    tiers: list[str] = Field(default_factory=list)  # empty: every tier
    languages: list[str] = Field(default_factory=list)  # empty: every language
    known: bool | None = None  # True: signed-in customers only; False: guests only
    share: float = Field(1.0, ge=0, le=1)

    def matches(self, customer: dict[str, Any], channel: str) -> bool:
        return ((not self.channels or channel in self.channels)
                and (not self.tiers or customer.get("tier", "standard") in self.tiers)
                and (not self.languages or customer.get("language", "en") in self.languages)
                and (self.known is None or bool(customer.get("known")) == self.known))


class HybridPolicy(_Model):
    """The orchestrator's complexity points (see guardrails/modes.yaml)."""

    hand_over_at: float = Field(3, gt=0)
    intent_points: dict[str, float] = Field(default_factory=dict)
    long_conversation_turns: int = Field(5, ge=1)
    long_conversation_points: float = Field(1, ge=0)
    failure_points: float = Field(1, ge=0)
    negative_below: float = Field(-0.3, ge=-1, le=1)
    negative_points: float = Field(1, ge=0)
    tier_points: dict[str, float] = Field(default_factory=dict)
    history_points: float = Field(1, ge=0)
    history_days: int = Field(30, ge=1)
    entities_at_least: int = Field(3, ge=1)
    entity_points: float = Field(1, ge=0)
    soft_triggers: dict[str, float] = Field(default_factory=dict)
    hold_tools: list[str] = Field(default_factory=list)

    @field_validator("intent_points")
    @classmethod
    def _intents(cls, value: dict[str, float]) -> dict[str, float]:
        only_known(value, INTENTS, "intent")
        return value

    @field_validator("soft_triggers")
    @classmethod
    def _triggers(cls, value: dict[str, float]) -> dict[str, float]:
        only_known(value, HANDOFF_REASONS, "handoff reason")
        return value

    @field_validator("hold_tools")
    @classmethod
    def _tools(cls, value: list[str]) -> list[str]:
        return _known_tools(value)


class DelegationTask(_Model):
    collect: list[Literal["order_id", "email"]] = Field(min_length=1)
    then: str | None = None  # a tool run once everything is collected

    @field_validator("then")
    @classmethod
    def _tool(cls, value: str | None) -> str | None:
        return _known_tools([value])[0] if value else None


class CsatPolicy(_Model):
    ask: bool = True
    ask_after: list[Literal["goodbye", "resolve"]] = Field(default_factory=lambda: ["goodbye", "resolve"])
    proxy_turns: int = Field(3, ge=1)


class ModesPolicy(_Model):
    default: Mode = "ai_first"
    salt: str = "cohorts"
    cohorts: list[Cohort] = Field(default_factory=list)
    hybrid: HybridPolicy = HybridPolicy()
    delegation: dict[str, DelegationTask] = Field(default_factory=dict)
    csat: CsatPolicy = CsatPolicy()

    @model_validator(mode="after")
    def _unique(self) -> "ModesPolicy":
        names = [c.name for c in self.cohorts]
        repeated = sorted({n for n in names if names.count(n) > 1} | ({DEFAULT_COHORT} & set(names)))
        if repeated:
            raise ValueError(f"cohort names must be unique and not {DEFAULT_COHORT!r}: {repeated}")
        return self


def _known_tools(value: list[str]) -> list[str]:
    from bot.tools import TOOLS

    only_known(value, tuple(TOOLS), "tool")
    return value


def draw(salt: str, cohort: str, key: str) -> float:
    """A number in [0, 1) fixed by (salt, cohort, key): the same customer always draws the same, and each cohort
    draws independently (being outside one pilot says nothing about the next)."""
    digest = hashlib.sha256(f"{salt}\x00{cohort}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(policy: ModesPolicy, customer: dict[str, Any], channel: str, conversation_id: str) -> dict[str, Any]:
    """The cohort of a new conversation: {name, mode, draw}. Keyed by the customer id, or the conversation id for a
    guest (a guest cannot be recognised again, so each of their conversations draws anew)."""
    key = str(customer.get("id") or conversation_id)
    for cohort in policy.cohorts:
        if cohort.matches(customer, channel):
            value = draw(policy.salt, cohort.name, key)
            if value < cohort.share:
                return {"name": cohort.name, "mode": cohort.mode, "draw": round(value, 6)}
    return {"name": DEFAULT_COHORT, "mode": policy.default, "draw": None}


def forced(policy: ModesPolicy, mode: str) -> ModesPolicy:
    """The policy with every customer in one cohort of `mode` (for trying a mode, and `bot eval --mode`)."""
    if mode not in MODES:
        raise ValueError(f"unknown operating mode {mode!r}; use one of {', '.join(MODES)}")
    return policy.model_copy(update={"cohorts": [Cohort(name=f"forced-{mode}", mode=mode)]})  # type: ignore[arg-type]


class LiveModes:
    """guardrails/modes.yaml, re-read whenever the file changes (a `stat` per call; the parse only on change).

    A broken edit is logged and ignored: the last valid policy stays in force, so a typo never stops the bot. The
    file must be valid when the bot starts (the caller passes that first policy in).
    """

    def __init__(self, path: Path, policy: ModesPolicy, force: str | None = None) -> None:
        self.path = path
        self.force = force  # BOT_MODE / --mode: every new conversation in this mode, cohort "forced-<mode>"
        self._policy = policy
        self._stamp = self._stat()
        self._lock = threading.Lock()
        self.error: str | None = None  # the last refused edit, for `bot policy check` and the logs

    def current(self) -> ModesPolicy:
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._reload(stamp)
        return forced(self._policy, self.force) if self.force else self._policy

    def _reload(self, stamp: tuple[float, int] | None) -> None:
        from bot.policy import PolicyError, load_modes

        try:
            self._policy = load_modes(self.path)
            self.error = None
            log.info("modes policy reloaded from %s", self.path)
        except PolicyError as exc:
            self.error = str(exc)
            log.error("modes policy edit refused, the previous one stays in force: %s", exc)
        self._stamp = stamp

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)
