"""Recorded conversations (CONTRACTS §4): parse and validate a JSONL file into typed records.

Other teams already have files in this format, so the reader is strict about what the contract fixes and lenient
about nothing else: every problem is reported with its line number and a reason (`bot eval` exits 2), and the
whole file is checked before anything runs, so a typo on line 900 does not cost a 20-minute replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.taxonomy import HANDOFF_REASONS, INTENTS


class DatasetError(ValueError):
    """The file is not a valid recorded-conversation file; `line` is 1-based (0: the file as a whole)."""

    def __init__(self, line: int, reason: str, path: Path | None = None) -> None:
        where = f"{path}:" if path else ""
        super().__init__(f"{where}{line}: {reason}" if line else f"{where} {reason}".strip())
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Expect:
    intents: tuple[str | None, ...] | None = None
    handoff: bool | None = None
    handoff_by_turn: int | None = None
    handoff_reason: str | None = None
    blocked_turns: tuple[int, ...] | None = None
    must_not_contain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conversation:
    id: str
    line: int
    channel: str
    customer: dict[str, Any]
    turns: tuple[dict[str, str], ...]  # {"role": "customer" | "bot" | "agent", "text": ...}
    expect: Expect = field(default_factory=Expect)

    @property
    def customer_texts(self) -> list[str]:
        return [t["text"] for t in self.turns if t["role"] == "customer"]

    @property
    def recorded_bot_turns(self) -> list[tuple[int, str]]:
        """(customer turn the reply follows, text) of each recorded bot turn."""
        out, count = [], 0
        for t in self.turns:
            if t["role"] == "customer":
                count += 1
            elif t["role"] == "bot":
                out.append((count, t["text"]))
        return out


# `source` (optional, an extension): where a case came from, e.g. the flags of `bot feedback export`; not graded.
_TOP = {"id", "channel", "customer", "turns", "expect", "source"}
_EXPECT = {"intents", "handoff", "handoff_by_turn", "handoff_reason", "blocked_turns", "must_not_contain"}


def _parse(obj: Any, line: int, seen: set[str]) -> Conversation:
    def bad(reason: str) -> DatasetError:
        return DatasetError(line, reason)

    if not isinstance(obj, dict):
        raise bad("a conversation must be a JSON object")
    unknown = sorted(set(obj) - _TOP)
    if unknown:
        raise bad(f"unknown key(s) {unknown}; allowed: {sorted(_TOP)}")
    if obj.get("source") is not None and not isinstance(obj["source"], dict):
        raise bad("'source' must be an object")
    cid = obj.get("id")
    if not isinstance(cid, str) or not cid.strip():
        raise bad("'id' must be a non-empty string")
    if cid in seen:
        raise bad(f"duplicate conversation id {cid!r}")
    channel = obj.get("channel")
    channel = "chat" if channel is None else channel  # optional keys may be null (CONTRACTS §4)
    if not isinstance(channel, str):
        raise bad("'channel' must be a string")
    customer = {} if obj.get("customer") is None else obj["customer"]  # null is absent; [] or "" is a mistake
    if not isinstance(customer, dict):
        raise bad("'customer' must be an object")
    for key in ("id", "tier", "language"):
        if customer.get(key) is not None and not isinstance(customer[key], str):
            raise bad(f"'customer.{key}' must be a string")
    turns = obj.get("turns")
    if not isinstance(turns, list) or not turns:
        raise bad("'turns' must be a non-empty list")
    parsed_turns = []
    for i, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict) or turn.get("role") not in ("customer", "bot", "agent"):
            raise bad(f"turn {i}: needs 'role' customer, bot or agent")
        if not isinstance(turn.get("text"), str):
            raise bad(f"turn {i}: 'text' must be a string")
        parsed_turns.append({"role": turn["role"], "text": turn["text"]})
    n_customer = sum(1 for t in parsed_turns if t["role"] == "customer")
    if n_customer == 0:
        raise bad("no customer turn")
    expect = _parse_expect({} if obj.get("expect") is None else obj["expect"], n_customer, bad)
    return Conversation(cid, line, channel, customer, tuple(parsed_turns), expect)


def _parse_expect(raw: Any, n_customer: int, bad) -> Expect:  # type: ignore[no-untyped-def]
    if not isinstance(raw, dict):
        raise bad("'expect' must be an object")
    unknown = sorted(set(raw) - _EXPECT)
    if unknown:
        raise bad(f"unknown expect key(s) {unknown}; allowed: {sorted(_EXPECT)}")
    intents = raw.get("intents")
    if intents is not None:
        if not isinstance(intents, list):
            raise bad("'expect.intents' must be a list")
        if len(intents) > n_customer:
            raise bad(f"'expect.intents' has {len(intents)} entries for {n_customer} customer turns")
        for i, name in enumerate(intents, start=1):
            if name is not None and name not in INTENTS:
                raise bad(f"unknown intent {name!r} (customer turn {i}); known: {', '.join(INTENTS)}")
        intents = tuple(intents)
    handoff = raw.get("handoff")
    if handoff is not None and not isinstance(handoff, bool):
        raise bad("'expect.handoff' must be true, false or null")
    by_turn = raw.get("handoff_by_turn")
    if by_turn is not None:
        if not isinstance(by_turn, int) or isinstance(by_turn, bool) or not 1 <= by_turn <= n_customer:
            raise bad(f"'expect.handoff_by_turn' must be a customer turn from 1 to {n_customer}")
    reason = raw.get("handoff_reason")
    if reason is not None and reason not in HANDOFF_REASONS:
        raise bad(f"unknown handoff reason {reason!r}; known: {', '.join(HANDOFF_REASONS)}")
    blocked = raw.get("blocked_turns")
    if blocked is not None:
        if not isinstance(blocked, list) or not all(isinstance(b, int) and not isinstance(b, bool) for b in blocked):
            raise bad("'expect.blocked_turns' must be a list of customer turn numbers")
        out = [b for b in blocked if not 1 <= b <= n_customer]
        if out:
            raise bad(f"'expect.blocked_turns' {out} out of range 1..{n_customer}")
        blocked = tuple(blocked)
    must_not = [] if raw.get("must_not_contain") is None else raw["must_not_contain"]
    if not isinstance(must_not, list) or not all(isinstance(m, str) and m for m in must_not):
        raise bad("'expect.must_not_contain' must be a list of non-empty strings")
    return Expect(intents, handoff, by_turn, reason, blocked, tuple(must_not))


def load(path: Path) -> list[Conversation]:
    """Every conversation of `path`, or DatasetError naming the first bad line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(0, "file not found", path) from None
    except OSError as exc:
        raise DatasetError(0, f"cannot read: {exc.strerror}", path) from None
    conversations: list[Conversation] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise DatasetError(number, "not valid UTF-8", path) from None
        except json.JSONDecodeError as exc:
            raise DatasetError(number, f"invalid JSON ({exc.msg} at column {exc.colno})", path) from None
        except ValueError as exc:  # a number over Python's 4,300-digit limit for int()
            raise DatasetError(number, f"invalid JSON ({exc})", path) from None
        except RecursionError:
            raise DatasetError(number, "invalid JSON (nested too deeply)", path) from None
        try:
            conversation = _parse(obj, number, seen)
        except DatasetError as exc:
            raise DatasetError(exc.line, exc.reason, path) from None
        seen.add(conversation.id)
        conversations.append(conversation)
    if not conversations:
        raise DatasetError(0, "no conversations (empty file)", path)
    return conversations
