"""Review and flagging endpoints: agents (and QA) read any stored conversation — handed off or contained — turn by
turn with the bot's reading of each, and flag the bot's mistakes (:mod:`bot.feedback`, through
:meth:`bot.desk.Desk.flag`, the same code as `bot agent flag`).

A flag is always the signed-in agent's (never a name from the body); withdrawing works on one's own flags only.
Agents' words (note, corrected reply, wrong phrases) are redacted by `Feedback` before they are stored; the
conversation's texts are stored redacted already. Same door as the other agent endpoints: a session cookie (plus
the CSRF header on a change) or an API token.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from bot.feedback import KINDS, MAX_TEXT, Flag, FlagError
from bot.logs import log_context
from bot.taxonomy import HANDOFF_REASONS, INTENTS
from bot.web.deps import AgentCaller, agent_caller, context, json_body

router = APIRouter(prefix="/api/agent", tags=["agent", "feedback"])
MAX_PHRASES, MAX_PHRASE = 20, 200
MAX_ID = 64  # conversation and flag ids are short; longer is no id of ours
CUSTOMER_KEYS = ("id", "name", "tier", "language", "known")  # what a list shows of the customer (no e-mail)
CHOICES = {"kinds": list(KINDS), "intents": list(INTENTS), "handoff_reasons": list(HANDOFF_REASONS)}


class FlagBody(BaseModel):
    """What should have happened (see bot/feedback.py). `kind`, `intent` and `reason` are checked by the desk, so a
    wrong value is refused with the list of right ones."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=40, json_schema_extra={"enum": list(KINDS)})
    turn: StrictInt | None = Field(None, description="the customer turn (1-based); leave out for the whole "
                                   "conversation (misrouted)")
    intent: str | None = Field(None, max_length=40, json_schema_extra={"enum": list(INTENTS)},
                               description="wrong_intent: the right intent")
    handoff: StrictBool | None = Field(None, description="misrouted: should it have gone to a person?")
    reason: str | None = Field(None, max_length=40, json_schema_extra={"enum": list(HANDOFF_REASONS)},
                               description="misrouted with handoff true: the right handoff reason")
    reply: str | None = Field(None, max_length=MAX_TEXT, description="bad_answer: what the bot should have said")
    must_not_contain: list[str] = Field(default_factory=list, max_length=MAX_PHRASES,
                                        description="bad_answer: wrong words, quoted from the bot's reply")
    note: str | None = Field(None, max_length=MAX_TEXT)

    @field_validator("kind", "intent", "reason", "reply", "note")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return _storable(value) if value is not None else None

    @field_validator("must_not_contain")
    @classmethod
    def _phrases(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) > MAX_PHRASE:
                raise ValueError(f"a wrong phrase is at most {MAX_PHRASE} characters")
            _storable(value)
        return values


def _storable(value: str) -> str:
    """Refuse what the database cannot hold: a lone UTF-16 surrogate (a "\\ud800" escape), a NUL (PostgreSQL)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    if "\x00" in value:
        raise ValueError("holds a NUL character")
    return value


# -- conversations to review -----------------------------------------------------------------------------------------
@router.get("/conversations", summary="Recent conversations to review (handed off or not), most recently active first")
async def conversations(request: Request, limit: int = Query(50, ge=1, le=500),
                        since: float = Query(0.0, ge=0, allow_inf_nan=False,
                                             description="updated at or after (epoch seconds)"),
                        handoff: bool | None = Query(None, description="only handed-off (true) or contained (false)"),
                        caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    """Conversations in which the customer wrote at least once: id, times, channel, status, handoff reason,
    operating mode and cohort, the number of customer turns and of flags, and the customer's first words."""
    db = context(request).engine.db
    where = ["c.updated_at >= ?",
             "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.role = 'customer')"]
    if handoff is not None:
        where.append(("" if handoff else "NOT ") + "(c.handoff_reason IS NOT NULL OR c.status = 'human')")
    sql = ("SELECT c.id, c.customer, c.channel, c.status, c.handoff_reason, c.handoff_turn, c.created_at,"
           " c.updated_at, c.operating_mode, c.cohort,"
           " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.role = 'customer'),"
           " (SELECT COUNT(*) FROM flags f WHERE f.conversation_id = c.id),"
           " (SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.role = 'customer'"
           "  ORDER BY m.seq LIMIT 1)"
           f" FROM conversations c WHERE {' AND '.join(where)} ORDER BY c.updated_at DESC, c.id LIMIT ?")

    def read() -> list[tuple[Any, ...]]:
        with db.reading() as conn:
            return conn.execute(sql, (since, limit)).fetchall()

    rows = await run_in_threadpool(read)
    return {"conversations": [
        dict(_summary(dict(zip(("id", "customer", "channel", "status", "handoff_reason", "handoff_turn",
                                "created_at", "updated_at", "operating_mode", "cohort"), row[:10]))),
             turns=int(row[10]), flags=int(row[11]), preview=(row[12] or "")[:160])
        for row in rows]}


@router.get("/conversations/{conversation_id}/review",
            summary="A stored conversation turn by turn, with the bot's reading of each turn and the flags on it")
async def review(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    """`transcript`: every stored line; a customer line carries its turn number (what a flag's `turn` means), a bot
    line the number of the turn it answered and the bot's reading: intent, confidence, sentiment, blocked.
    `choices`: the kinds, intents and handoff reasons a flag may name."""
    ctx = context(request)
    db = ctx.engine.db

    def read() -> dict[str, Any] | None:
        stored = db.conversation(conversation_id) if len(conversation_id) <= MAX_ID else None
        if stored is None:
            return None
        lines = _numbered(db.transcript(conversation_id))
        flags = ctx.desk.feedback.flags(conversation_id=conversation_id)
        return {"conversation": _summary(stored), "turns": sum(1 for t in lines if t["role"] == "customer"),
                "transcript": lines, "flags": [f.as_json() for f in flags], "choices": CHOICES}

    with log_context(conversation_id=conversation_id):
        found = await run_in_threadpool(read)
    if found is None:
        raise HTTPException(404, "no such conversation")
    return found


# -- flags ---------------------------------------------------------------------------------------------------------
# The body is read after the caller is known (FastAPI would parse a declared body first) and with the other agent
# endpoints' rules (JSON only, 415/400); the schema is still in /openapi.json.
FLAG_BODY = {"required": True, "content": {"application/json": {"schema": FlagBody.model_json_schema()}}}


@router.post("/conversations/{conversation_id}/flags", status_code=201, openapi_extra={"requestBody": FLAG_BODY},
             summary="Flag a mistake of the bot in this conversation (attributed to you)")
async def flag(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    """Checked against the stored conversation: a flag that cannot be right (no such turn, the bot already did what
    it says, a phrase the bot never said) is 422 with the reason. Flagging the same turn for the same kind again
    replaces your earlier flag."""
    ctx = context(request)
    try:
        body = FlagBody.model_validate(await json_body(request))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise HTTPException(422, problems) from None

    def make() -> Flag | None:
        if len(conversation_id) > MAX_ID or ctx.engine.db.conversation(conversation_id) is None:
            return None
        return ctx.desk.flag(conversation_id, caller.agent.name, body.kind, turn=body.turn, intent=body.intent,
                             handoff=body.handoff, reason=body.reason, reply=body.reply,
                             must_not_contain=body.must_not_contain, note=body.note)

    try:
        with log_context(conversation_id=conversation_id):
            made = await run_in_threadpool(make)
    except FlagError as exc:
        raise HTTPException(422, str(exc)) from None
    if made is None:
        raise HTTPException(404, "no such conversation")
    return made.as_json()


@router.get("/flags", summary="Flags, oldest first: of one conversation, one kind, or your own")
async def flags(request: Request, conversation: str | None = Query(None, max_length=MAX_ID),
                kind: str | None = Query(None, max_length=40), mine: bool = False,
                since: float = Query(0.0, ge=0, allow_inf_nan=False, description="made at or after (epoch seconds)"),
                limit: int = Query(200, ge=1, le=1000, description="at most this many, the most recent"),
                caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    if kind is not None and kind not in KINDS:
        raise HTTPException(422, f"unknown flag kind {kind!r}; use one of {', '.join(KINDS)}")
    found = await run_in_threadpool(context(request).desk.feedback.flags, since=since, conversation_id=conversation,
                                    kind=kind, agent=caller.agent.name if mine else None)
    return {"flags": [f.as_json() for f in found[-limit:]], "more": len(found) > limit}


@router.delete("/flags/{flag_id}", status_code=204, summary="Withdraw one of your own flags")
async def withdraw(flag_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> None:
    feedback = context(request).desk.feedback

    def remove() -> int:
        if len(flag_id) > MAX_ID:
            return 404
        with feedback.db.reading() as conn:
            row = conn.execute("SELECT agent FROM flags WHERE id = ?", (flag_id,)).fetchone()
        if row is None:
            return 404
        if row[0] != caller.agent.name:
            return 403
        feedback.withdraw(flag_id, caller.agent.name)
        return 204

    try:
        status = await run_in_threadpool(remove)
    except FlagError:  # withdrawn at the same moment by another request
        status = 404
    if status == 404:
        raise HTTPException(404, "no such flag")
    if status == 403:
        raise HTTPException(403, "only the agent who made a flag can withdraw it")


# -- helpers ---------------------------------------------------------------------------------------------------------
def _summary(stored: dict[str, Any]) -> dict[str, Any]:
    customer = stored.get("customer") or {}
    if isinstance(customer, str):
        customer = json.loads(customer)
    return {
        "id": stored["id"], "channel": stored.get("channel"), "status": stored.get("status"),
        # as bot/feedback.py reads it: a handoff reason on record, or a person holding the conversation now
        "handoff": bool(stored.get("handoff_reason")) or stored.get("status") == "human",
        "handoff_reason": stored.get("handoff_reason"), "handoff_turn": stored.get("handoff_turn"),
        "created_at": _time(stored.get("created_at")), "updated_at": _time(stored.get("updated_at")),
        "operating_mode": stored.get("operating_mode") or "ai_first", "cohort": stored.get("cohort") or "default",
        "customer": {k: customer.get(k) for k in CUSTOMER_KEYS},
    }


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _numbered(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transcript with turn numbers as bot/feedback.py counts them: the n-th customer message is turn n, and a
    bot line answers the customer turn whose stored turn it shares."""
    number: dict[Any, int] = {}  # stored turn -> customer turn number
    customers = 0
    lines = []
    for seq, line in enumerate(transcript):
        role = line["role"]
        out: dict[str, Any] = {"seq": seq, "role": role, "text": line["text"], "ts": _time(line.get("ts"))}
        if role == "customer":
            customers += 1
            out["turn"] = number[line.get("turn", customers)] = customers
        elif role == "bot":
            out.update(turn=number.get(line.get("turn")), intent=line.get("intent"),
                       confidence=line.get("confidence"), sentiment=line.get("sentiment"),
                       blocked=bool(line.get("blocked")))
        lines.append(out)
    return lines
