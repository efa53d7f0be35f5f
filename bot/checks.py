"""The input- and output-check hooks, and the checks that ship with the engine (limits and grounding).

The graph calls every configured check on every customer message (before anything else sees it) and on every piece
of bot reply (before the customer sees it). The guardrail layer plugs its rails in through the same two protocols;
the engine itself only enforces size and encoding limits on input and, on output, that the reply states no number
or identifier the conversation's facts do not contain — a cheap, strong defence against a small model inventing an
order id, a date or a refund amount.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.policy import InputPolicy

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                      r"\u2066-\u2069\ufeff]")  # C0/C1 controls but \t \n \r, zero-width, every bidi control, BOM
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class InputVerdict:
    """What one check says about a customer message. `text` is the (possibly normalised) message to pass on."""

    text: str
    refuse: str | None = None  # a messages.yaml key: the bot answers with it and nothing else happens
    values: dict[str, Any] = field(default_factory=dict)  # placeholders for the refusal message
    blocked: bool = False  # a rail blocked the message (CONTRACTS `blocked`); limits never set this
    events: list[dict[str, Any]] = field(default_factory=list)  # audit entries (never raw PII)
    secrets: dict[str, str] = field(default_factory=dict)  # placeholder -> raw value, for the vault only
    flags: dict[str, Any] = field(default_factory=dict)  # signals for the triggers, e.g. {"abusive": True}
    escalate: bool = False  # the policy hands this blocked message to a person (reason `guardrail`)


@dataclass
class OutputVerdict:
    """What one check says about a piece of bot reply."""

    text: str
    ok: bool = True  # False: this text must not reach the customer
    reason: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    rail: str | None = None  # the rail that refused the text
    escalate: bool = False  # policy: if the reply has to fall back, a person takes over (reason `guardrail`)


@dataclass(frozen=True)
class Grounding:
    """Everything a reply may draw facts from: tool results, KB passages, the customer's own words."""

    sources: tuple[str, ...] = ()
    customer: str = ""  # the customer's message this reply answers (redacted)
    tools_ok: tuple[str, ...] = ()  # tools that succeeded in this turn: only they make "I've cancelled it" true

    @property
    def text(self) -> str:
        return "\n".join(self.sources)


class InputCheck(Protocol):
    name: str

    def check(self, text: str) -> InputVerdict: ...


class OutputCheck(Protocol):
    name: str
    # Optional attribute `needs_grounding: bool`: True when the check only makes sense with the reply's facts.

    def check(self, text: str, grounding: Grounding) -> OutputVerdict: ...


class InputLimits:
    """Normalise Unicode, drop control characters, refuse empty, undecodable or oversized messages."""

    name = "input_limits"

    def __init__(self, policy: InputPolicy) -> None:
        self.policy = policy

    def check(self, text: str) -> InputVerdict:
        p = self.policy
        if len(text) > p.max_chars * 4:  # never normalise megabytes: refuse on the raw length
            return self._too_long(len(text))
        if _SURROGATE.search(text):  # a JSON "\ud800" escape: pairs joined, lone halves (unstorable) made U+FFFD
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        if p.normalize != "none":
            text = unicodedata.normalize(p.normalize, text)  # type: ignore[arg-type]
        if p.strip_control_chars:
            text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        stripped = text.strip()
        if not stripped:
            return InputVerdict(text="", refuse="input.empty", events=[_event("empty")])
        if "\ufffd" in stripped and stripped.count("\ufffd") / len(stripped) > p.max_replacement_ratio:
            return InputVerdict(text="", refuse="input.invalid_encoding", events=[_event("invalid_encoding")])
        if len(stripped) > p.max_chars or stripped.count("\n") >= p.max_lines:
            return self._too_long(len(stripped))
        return InputVerdict(text=stripped)

    def _too_long(self, chars: int) -> InputVerdict:
        return InputVerdict(
            text="",
            refuse="input.too_long",
            values={"chars": chars, "limit": self.policy.max_chars},
            events=[_event("too_long", f"{chars} characters")],
        )


def _event(reason: str, detail: str = "", rail: str = "input_limits", action: str = "refuse") -> dict[str, Any]:
    return {"rail": rail, "action": action, "reason": reason, "detail": detail}


# Numbers and identifiers: order ids (A10234), amounts (49.99), dates (2026-11-28), tracking codes (1Z999...).
_FACTLIKE = re.compile(r"(?<![\w.])(?=[\w.\-/]*\d)[A-Za-z0-9][\w\-/]*(?:\.\d+)?")
_ALLOWED_SMALL = {str(n) for n in range(0, 11)} | {"24", "48", "7", "30", "60", "1st", "2nd", "3rd"}


def _norm_fact(token: str) -> str:
    return token.strip(".,;:!?()[]\"'").lower().lstrip("#$€£")


def ungrounded_fact(text: str, source: str, *, within_words: bool = True) -> str | None:
    """The first number or identifier of `text` that `source` lacks (None: all grounded).

    `within_words` also accepts a fact found inside a longer token of the source ("45" inside a tracking code) —
    lenient for replies, whose facts come from prose; summaries are checked without it.
    """
    source = source.lower().replace(",", "")
    known = {_norm_fact(t) for t in _FACTLIKE.findall(source)}
    for token in _FACTLIKE.findall(text):
        fact = _norm_fact(token).replace(",", "")
        if not fact or fact in _ALLOWED_SMALL or fact in known or (within_words and fact in source):
            continue
        return fact
    return None


class GroundedFacts:
    """Every number or identifier in a reply must occur in the grounding (tool results, KB, customer text).

    Small counting numbers ("1", "two") are allowed; anything that looks like an order id, amount, date, phone or
    tracking number and is not in the sources fails the check, and the caller falls back to the facts verbatim.
    """

    name = "grounded_facts"
    needs_grounding = True  # meaningless without the facts the reply was written from (QA grade mode skips it)

    def check(self, text: str, grounding: Grounding) -> OutputVerdict:
        fact = ungrounded_fact(text, grounding.text)
        if fact is None:
            return OutputVerdict(text=text)
        return OutputVerdict(
            text=text,
            ok=False,
            reason=f"states '{fact}', which no tool result or policy passage contains",
            events=[_event("ungrounded_fact", fact, rail=self.name, action="fallback")],
        )


class ReplyLength:
    """Keep replies readable: cut at a sentence boundary past `max_chars`."""

    name = "reply_length"

    def __init__(self, max_chars: int = 900) -> None:
        self.max_chars = max_chars

    def check(self, text: str, grounding: Grounding) -> OutputVerdict:
        if len(text) <= self.max_chars:
            return OutputVerdict(text=text)
        cut = text[: self.max_chars]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        cut = cut[: end + 1] if end > 0 else cut.rstrip() + "…"
        return OutputVerdict(text=cut, events=[_event("too_long", f"{len(text)} characters", self.name, "fix")])


def default_input_checks(policy: InputPolicy) -> list[InputCheck]:
    return [InputLimits(policy)]


def default_output_checks() -> list[OutputCheck]:
    return [GroundedFacts(), ReplyLength()]
