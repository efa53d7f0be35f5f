"""Customer endpoints: start a conversation, send a message (reply streamed as server-sent events), read the
conversation, and wait for what the agent writes (long polling).

The engine is synchronous (LangGraph, the database, the LLM client): each turn runs in a worker thread and its checked
text is handed to the event loop as it comes. A customer who closes the page mid-reply loses nothing: the turn
finishes, and its reply is in the conversation when they come back. A message may carry the client's `message_id`:
sending it again after a lost answer (or a worker that died mid-turn) answers it once, never twice.

CSAT: a turn's answer, the conversation and the long poll carry `csat_asked` — true while the last reply (the AI's
goodbye, or the notice that an agent resolved the conversation) ends with the rating question and nothing answered
it — so the page can offer 1–5 buttons; a button sends its digit as an ordinary message. A conversation an agent
closed still takes that one answer when it is a rating. `POST …/end` says the customer left: the proxy is recorded
unless they rated.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any, AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bot import csat
from bot.engine import TurnResult, UnknownConversation, UnknownCustomer
from bot.logs import log_context
from bot.sql import DatabaseUnavailable
from bot.web.deps import WebContext, client, context, conversation_caller, json_body, limit

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/conversations", tags=["customer"])
LANGUAGE = re.compile(r"^[a-z]{2}$")
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")  # the client's id of a message: a retry with it is never answered twice
_running: set[asyncio.Task[Any]] = set()  # turns whose page went away still finish (kept from garbage collection)


def status_of(ctx: WebContext, conversation_id: str, estimate: bool = True) -> dict[str, Any]:
    """Where the conversation stands for the customer: with the AI, with people (and which handoff state), closed.

    `estimate`: include the wait estimate of a waiting handoff (it reads the queue's recent history; the long-poll
    loop leaves it out until it answers)."""
    record = ctx.engine.db.conversation(conversation_id) or {}
    entry = ctx.engine.queue.get(conversation_id)
    handoff = None
    if entry is not None:
        handoff = {"reason": entry.package.get("reason"), "status": entry.status, "agent": entry.claimed_by,
                   "wait_minutes": None}
        if entry.status == "waiting" and estimate:
            wait = ctx.engine.queue.wait_minutes(entry.package)
            handoff["wait_minutes"] = round(wait, 1) if wait is not None else None
    status = record.get("status", "ai")
    state = f"{status}:{handoff['status'] if handoff else '-'}:{(handoff or {}).get('agent') or '-'}"
    return {"status": status, "handoff": handoff, "state": state}


def messages_of(ctx: WebContext, conversation_id: str, after: int, status: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages after position `after`; an agent's carry the name of the agent holding the handoff (`status_of`)."""
    agent = (status["handoff"] or {}).get("agent")
    return [{"seq": m["seq"], "role": m["role"], "text": m["text"], "agent": agent if m["role"] == "agent" else None}
            for m in ctx.engine.db.messages_after(conversation_id, after)]


@router.post("", status_code=201, summary="Start a conversation (returns its token)")
async def start(request: Request) -> dict[str, Any]:
    ctx = context(request)
    limit(request, f"new:{client(request)}", ctx.policy.rate_limits.new_conversations_per_hour, 3600,
          "new conversations")
    body = await json_body(request)
    customer_id, signature, language = (body.get(k) for k in ("customer_id", "signature", "language"))
    for key, value in (("customer_id", customer_id), ("signature", signature), ("language", language)):
        if value is not None and (not isinstance(value, str) or len(value) > 128):
            raise HTTPException(422, f"{key} must be a string of at most 128 characters")
    if language is not None and not LANGUAGE.match(language):
        raise HTTPException(422, "language must be a two-letter code such as 'en'")
    if customer_id is not None:
        _check_signature(ctx, customer_id, signature)
    try:
        conversation_id = await run_in_threadpool(ctx.engine.start, customer_id, channel="web", language=language)
    except UnknownCustomer as exc:
        raise HTTPException(422, str(exc)) from None
    token = ctx.sessions.issue_conversation_token(conversation_id, ctx.policy.conversation_token_days)
    return {"conversation_id": conversation_id, "token": token, "status": "ai",
            "greeting": ctx.engine.deps.policies.messages.get("smalltalk.greeting")}


def _check_signature(ctx: WebContext, customer_id: str, signature: str | None) -> None:
    """A known customer only with the store site's signature: HMAC-SHA256(BOT_WEB_CUSTOMER_SECRET, customer_id)."""
    secret = ctx.settings.web_customer_secret
    if not secret:
        raise HTTPException(403, "signed-in customers are not enabled (BOT_WEB_CUSTOMER_SECRET is not set)")
    expected = hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.lower()):
        raise HTTPException(403, "the customer id's signature is missing or wrong")


@router.post("/{conversation_id}/messages", summary="Send a message; the reply as JSON or as an SSE stream")
async def send(conversation_id: str, request: Request) -> Any:
    ctx = context(request)
    conversation_id = conversation_caller(request, conversation_id)
    body = await json_body(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(422, "text must be a non-empty string")
    if len(text) > ctx.policy.max_message_chars:
        raise HTTPException(422, f"the message is {len(text)} characters; the limit is {ctx.policy.max_message_chars}")
    message_id = body.get("message_id")
    if message_id is not None and not (isinstance(message_id, str) and MESSAGE_ID.fullmatch(message_id)):
        raise HTTPException(422, "message_id must be 8 to 64 letters, digits, '-' or '_'")
    if (ctx.engine.db.conversation(conversation_id) or {}).get("status") == "closed" and not await run_in_threadpool(
            _rating_after_close, ctx, conversation_id, text, message_id):
        raise HTTPException(409, "this conversation has ended; start a new one")
    limit(request, f"msg:{conversation_id}", ctx.policy.rate_limits.messages_per_minute, 60, "messages")
    if "text/event-stream" not in request.headers.get("accept", ""):
        result = await _turn(ctx, conversation_id, text, None, message_id)
        return _done(ctx, result)
    return StreamingResponse(_stream(ctx, conversation_id, text, message_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _rating_after_close(ctx: WebContext, conversation_id: str, text: str, message_id: str | None) -> bool:
    """A closed conversation still takes the answer to the rating question its resolve notice asked (it stays
    closed), and the retry of a message it already took (answered once, as always)."""
    if message_id is not None and ctx.engine.db.last_message(conversation_id)[0] == message_id:
        return True
    return csat.parse_rating(text) is not None and csat_asked(ctx, conversation_id)


def csat_asked(ctx: WebContext, conversation_id: str) -> bool:
    """The conversation's last reply asked for a rating and nothing answered it yet (the page shows 1–5 buttons)."""
    return csat.awaiting(ctx.engine.state(conversation_id))


async def _turn(ctx: WebContext, conversation_id: str, text: str, on_text: Any,
                message_id: str | None = None) -> TurnResult:
    try:
        with log_context(conversation_id=conversation_id):  # the worker thread copies it: the turn's log lines
            return await run_in_threadpool(ctx.engine.turn, conversation_id, text, on_text, message_id=message_id)
    except UnknownConversation as exc:
        raise HTTPException(404, str(exc)) from None
    except TimeoutError:
        raise HTTPException(503, "the conversation is busy with another message; try again",
                            headers={"Retry-After": "2"}) from None


def _done(ctx: WebContext, result: TurnResult) -> dict[str, Any]:
    status = status_of(ctx, result.conversation_id)
    seq = ctx.engine.db.last_seq(result.conversation_id)
    return dict(result.contract(), status=status["status"], handoff_info=status["handoff"], state=status["state"],
                seq=seq, csat_asked=result.csat_asked)


async def _stream(ctx: WebContext, conversation_id: str, text: str, message_id: str | None) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def on_text(chunk: str) -> None:
        loop.call_soon_threadsafe(events.put_nowait, ("text", {"text": chunk}))

    async def run() -> None:
        try:
            result = await _turn(ctx, conversation_id, text, on_text, message_id)
            events.put_nowait(("done", _done(ctx, result)))
        except HTTPException as exc:
            events.put_nowait(("error", {"error": exc.detail, "status": exc.status_code}))
        except DatabaseUnavailable as exc:
            log.warning("turn failed: %s", exc)
            events.put_nowait(("error", {"error": "the service is briefly unavailable; please try again in a moment",
                                         "status": 503}))
        except Exception:  # logged with its traceback; the customer gets a sentence, not a stack
            with log_context(conversation_id=conversation_id):
                log.exception("turn failed")
            events.put_nowait(("error", {"error": "something went wrong on our side; please try again",
                                         "status": 500}))

    task = asyncio.create_task(run())
    _running.add(task)
    task.add_done_callback(_running.discard)
    while True:
        kind, data = await events.get()
        yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        if kind in ("done", "error"):
            return


@router.get("/{conversation_id}", summary="The conversation so far and where it stands")
async def read(conversation_id: str, request: Request) -> dict[str, Any]:
    ctx = context(request)
    conversation_id = conversation_caller(request, conversation_id)
    status = status_of(ctx, conversation_id)
    return dict(status, conversation_id=conversation_id, messages=messages_of(ctx, conversation_id, -1, status),
                csat_asked=await run_in_threadpool(csat_asked, ctx, conversation_id))


@router.post("/{conversation_id}/end", summary="The customer left: record the CSAT proxy unless they rated")
async def end(conversation_id: str, request: Request) -> dict[str, Any]:
    """The page's "End chat": the customer is done. Without a rating from them, the proxy from the conversation's
    sentiment is stored (labelled proxy) and returned; with one, nothing changes and `csat` is null."""
    ctx = context(request)
    conversation_id = conversation_caller(request, conversation_id)
    with log_context(conversation_id=conversation_id):
        return {"csat": await run_in_threadpool(ctx.engine.end, conversation_id)}


@router.get("/{conversation_id}/messages", summary="Messages after a position (long polling: waits for new ones)")
async def poll(conversation_id: str, request: Request, after: int = -1, wait: float = 0.0,
               state: str | None = None) -> JSONResponse:
    """Returns at once when there are messages after `after` or the conversation's state differs from `state`
    (the `state` of the previous answer: a handoff claimed, closed, handed back); otherwise waits up to `wait` s."""
    ctx = context(request)
    conversation_id = conversation_caller(request, conversation_id)
    if not -1 <= after < 2**62 or not wait >= 0:  # a 64-bit position; NaN fails `>=` (it would wait for ever)
        raise HTTPException(422, "after must be -1 or more (a message position) and wait a number of seconds, "
                                 "not negative")
    deadline = time.monotonic() + min(wait, ctx.policy.long_poll_max_s)
    while True:
        status = status_of(ctx, conversation_id, estimate=False)
        messages = messages_of(ctx, conversation_id, after, status)
        if messages or (state is not None and state != status["state"]) or time.monotonic() >= deadline:
            status = status_of(ctx, conversation_id)  # with the wait estimate, for the answer
            asked = await run_in_threadpool(csat_asked, ctx, conversation_id)
            return JSONResponse(dict(status, messages=messages, csat_asked=asked),
                                headers={"Cache-Control": "no-store"})
        if await request.is_disconnected():
            return JSONResponse({"messages": []})
        await asyncio.sleep(0.4)
