"""Agents' feedback on what the bot did: flags stored with the conversation, the start of the learning loop.

The guide asks for "a loop where agents flag misrouted interactions and wrong AI answers, feeding retraining and rule
changes". A flag says what the bot did on one customer turn (or in the whole conversation) and what it should have
done instead:

=====================  =========================================  =============================================
kind                   correction                                 used by
=====================  =========================================  =============================================
misrouted              handoff true + the right reason, or false  eval cases (`expect.handoff`), rule suggestions,
                                                                  retraining (customer_request -> human_request)
wrong_intent           the right intent                           eval cases (`expect.intents`), retraining
bad_answer             a corrected reply, and the wrong phrases   eval cases (`must_not_contain`), the reference
rail_false_positive    (the turn should not have been blocked)    eval cases (`blocked_turns`), rule suggestions
rail_false_negative    (the turn should have been blocked)        eval cases (`blocked_turns`), rule suggestions
=====================  =========================================  =============================================

Each flag is checked against the stored conversation (the turn exists, the bot really did what the flag says was
wrong), so a mistaken flag is refused with a clear message instead of becoming a wrong test. What the bot did is
copied into the flag (`observed`) when it is made, so a later reader does not depend on checkpoints. Every free text
an agent types (note, corrected reply, phrases) is redacted with the installation's PII redactor before it is stored;
the conversation's own texts are stored redacted already. A flag is attributed to its agent; flagging the same
turn again for the same kind replaces that agent's earlier flag (agents correct themselves), another agent's flag
stays beside it.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from bot.persistence import Database
from bot.taxonomy import HANDOFF_REASONS, INTENTS

KINDS = ("misrouted", "wrong_intent", "bad_answer", "rail_false_positive", "rail_false_negative")
NEEDS_TURN = ("wrong_intent", "bad_answer", "rail_false_positive", "rail_false_negative")
MAX_TEXT = 2000  # characters of a corrected reply or a note


class FlagError(ValueError):
    """A flag that cannot be right (unknown conversation or turn, a correction that matches what the bot did...)."""


@dataclass(frozen=True)
class Flag:
    id: str
    conversation_id: str
    turn: int | None
    kind: str
    agent: str
    correction: dict[str, Any]
    observed: dict[str, Any]
    note: str | None
    created_at: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Feedback:
    """Flags on the shared database (`BOT_DB_URL`), for every front end: `bot agent flag`, the console, the API."""

    def __init__(self, db: Database, redact: Callable[[str], str], clock: Callable[[], float] = time.time) -> None:
        self.db, self.redact, self.clock = db, redact, clock

    # -- writing ----------------------------------------------------------------------------------------------------
    def flag(self, conversation_id: str, agent: str, kind: str, *, turn: int | None = None,
             intent: str | None = None, handoff: bool | None = None, reason: str | None = None,
             reply: str | None = None, must_not_contain: list[str] | tuple[str, ...] = (),
             note: str | None = None, events: list[dict[str, Any]] | None = None) -> Flag:
        """Store one flag (see the module docstring); `events` are the conversation's audit events (which rail
        blocked a turn), copied into `observed` when given. Raises FlagError when the flag cannot be right."""
        if kind not in KINDS:
            raise FlagError(f"unknown flag kind {kind!r}; use one of {', '.join(KINDS)}")
        if not agent.strip():
            raise FlagError("a flag needs the agent's name")
        stored = self.db.conversation(conversation_id)
        if stored is None:
            raise FlagError(f"no conversation {conversation_id}")
        transcript = self.db.transcript(conversation_id)
        turns = _customer_turns(transcript)
        if turn is None and kind in NEEDS_TURN:
            raise FlagError(f"a {kind} flag is about one customer turn: give the turn (1..{len(turns)})")
        if turn is not None and not 1 <= turn <= len(turns):
            raise FlagError(f"conversation {conversation_id} has customer turns 1..{len(turns)}, not {turn}"
                            if turns else f"conversation {conversation_id} has no customer message to flag")
        observed = _observed(stored, transcript, turn, events)
        correction = self._correction(kind, observed, turn, intent=intent, handoff=handoff, reason=reason,
                                      reply=reply, must_not_contain=list(must_not_contain))
        note = self.redact(note.strip()[:MAX_TEXT]) if note and note.strip() else None
        flag = Flag(id=f"f-{secrets.token_hex(6)}", conversation_id=conversation_id, turn=turn, kind=kind,
                    agent=agent.strip(), correction=correction, observed=observed, note=note,
                    created_at=self.clock())
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM flags WHERE conversation_id = ? AND kind = ? AND agent = ? AND"
                         " COALESCE(turn, 0) = ?", (conversation_id, kind, flag.agent, turn or 0))
            conn.execute(
                "INSERT INTO flags (id, conversation_id, turn, kind, agent, correction, observed, note, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (flag.id, conversation_id, turn, kind, flag.agent, json.dumps(correction), json.dumps(observed),
                 note, flag.created_at),
            )
        return flag

    def withdraw(self, flag_id: str, agent: str) -> None:
        """Remove one of `agent`'s own flags."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT agent FROM flags WHERE id = ?", (flag_id,)).fetchone()
            if row is None:
                raise FlagError(f"no flag {flag_id}")
            if row[0] != agent:
                raise FlagError(f"flag {flag_id} is {row[0]}'s: only they can withdraw it")
            conn.execute("DELETE FROM flags WHERE id = ?", (flag_id,))

    def _correction(self, kind: str, observed: dict[str, Any], turn: int | None, *, intent: str | None,
                    handoff: bool | None, reason: str | None, reply: str | None,
                    must_not_contain: list[str]) -> dict[str, Any]:
        at = observed.get("turn") or {}
        if kind == "wrong_intent":
            if intent not in INTENTS:
                raise FlagError(f"wrong_intent needs the right intent, one of: {', '.join(INTENTS)}")
            if at.get("intent") == intent:
                raise FlagError(f"the bot already read turn {turn} as {intent}")
            return {"intent": intent}
        if kind == "misrouted":
            return _misrouted(observed, turn, handoff, reason)
        if kind == "bad_answer":
            if not (reply or "").strip():
                raise FlagError("bad_answer needs the corrected reply (what the bot should have said)")
            said = str(at.get("reply") or "")
            if not said:
                raise FlagError(f"the bot did not answer turn {turn}")
            wrong = [p.strip() for p in must_not_contain if p.strip()]
            missing = [p for p in wrong if p.lower() not in said.lower()]
            if missing:
                raise FlagError(f"not in the bot's reply to turn {turn}: {missing!r} (quote the wrong words)")
            return {"reply": self.redact(reply.strip()[:MAX_TEXT]), "must_not_contain": [self.redact(p) for p in wrong]}
        blocked = bool(at.get("blocked"))
        if kind == "rail_false_positive" and not blocked:
            raise FlagError(f"turn {turn} was not blocked: a false positive is a block that should not have happened")
        if kind == "rail_false_negative" and blocked:
            raise FlagError(f"turn {turn} was blocked already")
        return {"blocked": kind == "rail_false_negative"}

    # -- reading ----------------------------------------------------------------------------------------------------
    def flags(self, *, since: float = 0.0, until: float | None = None, conversation_id: str | None = None,
              kind: str | None = None, agent: str | None = None) -> list[Flag]:
        """Flags made in [since, until), oldest first, optionally of one conversation, kind or agent."""
        where, args = ["created_at >= ?"], [since]
        for column, value in (("conversation_id", conversation_id), ("kind", kind), ("agent", agent)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if until is not None:
            where.append("created_at < ?")
            args.append(until)
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT id, conversation_id, turn, kind, agent, correction, observed, note, created_at FROM flags"
                f" WHERE {' AND '.join(where)} ORDER BY created_at, id", tuple(args)).fetchall()
        return [Flag(fid, cid, turn, k, who, json.loads(corr), json.loads(obs), note, at)
                for fid, cid, turn, k, who, corr, obs, note, at in rows]

    def counts(self, since: float = 0.0, until: float | None = None) -> dict[str, int]:
        """Flags per kind made in [since, until) (monitoring's flag rate)."""
        window, args = "created_at >= ?", [since]
        if until is not None:
            window += " AND created_at < ?"
            args.append(until)
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT kind, COUNT(*) FROM flags WHERE {window} GROUP BY kind",
                                tuple(args)).fetchall()
        return {k: 0 for k in KINDS} | {kind: int(n) for kind, n in rows}


# -- what the bot did ----------------------------------------------------------------------------------------------
def _customer_turns(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in transcript if t["role"] == "customer"]


def _observed(stored: dict[str, Any], transcript: list[dict[str, Any]], turn: int | None,
              events: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The conversation's outcome, and for `turn` the customer's words and the bot's reading and reply."""
    observed: dict[str, Any] = {
        "handoff": bool(stored.get("handoff_reason")) or stored.get("status") == "human",
        "handoff_reason": stored.get("handoff_reason"),
        "handoff_turn": stored.get("handoff_turn"),
        "mode": stored.get("operating_mode"),
        "cohort": stored.get("cohort"),
    }
    if turn is None:
        return observed
    customer = _customer_turns(transcript)[turn - 1]
    number = customer.get("turn", turn)
    bot = [t for t in transcript if t["role"] == "bot" and t.get("turn") == number]
    observed["turn"] = {
        "number": turn,
        "customer": customer["text"],
        "intent": bot[0].get("intent") if bot else None,
        "confidence": bot[0].get("confidence") if bot else None,
        "sentiment": bot[0].get("sentiment") if bot else None,
        "blocked": any(t.get("blocked") for t in bot),
        "reply": " ".join(t["text"] for t in bot if t.get("text")) or None,
        "rails": [{k: e.get(k) for k in ("rail", "action", "reason")} for e in events or []
                  if e.get("turn") == number and e.get("rail") not in ("handoff", None)],
    }
    return observed


def _misrouted(observed: dict[str, Any], turn: int | None, handoff: bool | None, reason: str | None) -> dict[str, Any]:
    if handoff is None:
        raise FlagError("misrouted needs handoff: yes (it should have gone to a person) or no (it should not)")
    was, was_reason = observed["handoff"], observed.get("handoff_reason")
    if not handoff:
        if not was:
            raise FlagError("the conversation was not handed off: nothing to correct with handoff: no")
        return {"handoff": False, "handoff_reason": None, "handoff_by_turn": None}
    if reason not in HANDOFF_REASONS:
        raise FlagError(f"say why it should have gone to a person: a reason, one of {', '.join(HANDOFF_REASONS)}")
    if was and was_reason == reason:
        raise FlagError(f"the conversation was already handed off for {reason}")
    if was and turn is None:
        turn = observed.get("handoff_turn")
    return {"handoff": True, "handoff_reason": reason, "handoff_by_turn": turn}
