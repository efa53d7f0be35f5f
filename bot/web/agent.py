"""Agent endpoints: log in, the live queue, a handoff's package, and the desk's actions (claim, reply, resolve,
hand back, AI draft, tool runs, knowledge-base lookups, a task given to the AI and taken back). Each action is
:class:`bot.desk.Desk`'s, the same code as `bot agent`; a refusal of the desk (claimed by someone else, already
resolved, an empty reply, an unknown task) comes back as 409 with its sentence.

Presence (`bot/presence.py`, the same table as `bot agent signin`): logging in does not make an agent available —
being signed in to read the queue is not the same as taking customers — but logging out signs them out, so nobody
is counted as online (and told to customers as coming) after closing the console.
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from bot.logs import log_context
from bot.operating import snapshot, task_list
from bot.queue import QueueError
from bot.web.deps import COOKIE, AgentCaller, agent_caller, client, context, json_body
from bot.web.security import TooManyRequests

router = APIRouter(prefix="/api/agent", tags=["agent"])
LOGIN_WINDOW_S = 15 * 60


@router.post("/login", summary="Log in with name and password (sets the session cookie)")
async def login(request: Request, response: Response) -> dict[str, Any]:
    ctx = context(request)
    body = await json_body(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise HTTPException(422, "name and password are required strings")
    if len(name) > 64 or len(password) > 256:
        raise HTTPException(422, "name or password is too long")
    allowed = ctx.policy.rate_limits.login_attempts_per_15_minutes
    keys = (f"login:{client(request)}", f"login-name:{name.strip().lower()}")
    for key in keys:  # checked before the password, counted only when it is wrong
        ctx.limiter.check(key, allowed, LOGIN_WINDOW_S, "failed logins")
    agent = await run_in_threadpool(ctx.accounts.login, name, password)
    if agent is None:
        for key in keys:
            try:
                ctx.limiter.hit(key, allowed, LOGIN_WINDOW_S, "failed logins")
            except TooManyRequests:
                pass
        raise HTTPException(401, "wrong name or password")
    cookie, session = ctx.sessions.open_agent_session(agent.name, ctx.policy.agent_session_hours)
    response.set_cookie(COOKIE, cookie, max_age=int(ctx.policy.agent_session_hours * 3600), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return dict(agent.public(), csrf_token=session.csrf_token)


@router.post("/logout", status_code=204, summary="End the console session")
async def logout(request: Request, response: Response, caller: AgentCaller = Depends(agent_caller)) -> None:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        context(request).sessions.close_agent_session(cookie)
    await run_in_threadpool(context(request).engine.presence.sign_out, caller.agent.name)
    response.delete_cookie(COOKIE, path="/")


@router.get("/me", summary="The signed-in agent (and the session's CSRF token)")
async def me(caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    return dict(caller.agent.public(), csrf_token=caller.csrf_token)


@router.get("/queue", summary="Waiting and claimed handoffs, most urgent first")
async def queue(request: Request, caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    entries = await run_in_threadpool(context(request).desk.waiting, statuses=("waiting", "claimed"))
    return {"handoffs": [_card(e.as_json()) for e in entries]}


@router.get("/presence", summary="Who is signed in to take handoffs: status, skills, languages, load")
async def presence(request: Request, caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    roster = await run_in_threadpool(context(request).engine.presence.roster)
    me = next((a.as_json() for a in roster if a.agent == caller.agent.name), None)
    return {"agents": [a.as_json() for a in roster], "me": me}


@router.post("/presence", summary="Set your own status (online, away, offline), skills, languages and limit")
async def set_presence(request: Request, caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    """Fields left out keep their current values; the first time, the account's skills and languages (else any
    skill, English) and a limit of 3."""
    body = await json_body(request)
    status = body.get("status")
    if status not in ("online", "away", "offline"):
        raise HTTPException(422, "status must be online, away or offline")
    for key in ("skills", "languages"):
        if key in body and (not isinstance(body[key], list) or not all(isinstance(v, str) for v in body[key])):
            raise HTTPException(422, f"{key} must be a list of strings")
    limit = body.get("max_concurrent")
    if "max_concurrent" in body and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise HTTPException(422, "max_concurrent must be a whole number")
    agent, presence = caller.agent, context(request).engine.presence

    def change() -> dict[str, Any] | None:
        if status == "offline":
            presence.sign_out(agent.name)
        else:
            me = presence.get(agent.name)
            presence.sign_in(agent.name,
                             body.get("skills", me.skills if me else agent.skills),
                             body.get("languages", me.languages if me else agent.languages or ("en",)),
                             body.get("max_concurrent", me.max_concurrent if me else 3))
            if status == "away":
                presence.set_status(agent.name, "away")
        found = presence.get(agent.name)
        return found.as_json() if found else None

    try:
        me = await run_in_threadpool(change)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"me": me}


def _card(entry: dict[str, Any]) -> dict[str, Any]:
    """A queue row: what a list needs, not the whole transcript."""
    keep = ("conversation_id", "status", "claimed_by", "priority", "initial_priority", "waiting_minutes", "reason",
            "intent", "customer", "summary", "sentiment", "channel", "created_at", "skill", "language")
    return {k: entry.get(k) for k in keep}


@router.get("/handoffs/{conversation_id}", summary="A handoff's package, refreshed with the conversation so far")
async def package(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    def read(d: Any) -> dict[str, Any]:
        view = d.show(conversation_id)  # who acts (mode, cohort, orchestrator, the AI's task) comes from the state
        return dict(view.as_json(), **snapshot(d.engine.state(conversation_id), view.entry.status))

    return await _desk(request, read, missing=404)


@router.post("/handoffs/{conversation_id}/claim", summary="Take a waiting handoff")
async def claim(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    entry = await _desk(request, lambda d: d.claim(conversation_id, caller.agent.name))
    return _card(entry.as_json())


@router.post("/handoffs/{conversation_id}/release", status_code=204, summary="Put a claimed handoff back")
async def release(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> None:
    await _desk(request, lambda d: d.release(conversation_id, caller.agent.name))


@router.post("/handoffs/{conversation_id}/reply", summary="Send a reply to the customer (claims a waiting handoff)")
async def reply(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    text = _text(await json_body(request), "text", request, required=True)
    result = await _desk(request, lambda d: d.reply(conversation_id, caller.agent.name, text))
    return {"ok": True, "status": result.mode}


@router.post("/handoffs/{conversation_id}/resolve", summary="Close the conversation as resolved")
async def resolve(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    note = _text(await json_body(request), "note", request) or None
    result = await _desk(request, lambda d: d.resolve(conversation_id, caller.agent.name, note))
    return {"ok": True, "status": result.mode}


@router.post("/handoffs/{conversation_id}/hand-back", summary="Give the conversation back to the AI, with a note")
async def hand_back(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    note = _text(await json_body(request), "note", request, required=True)
    result = await _desk(request, lambda d: d.hand_back(conversation_id, caller.agent.name, note))
    return {"ok": True, "status": result.mode}


@router.post("/handoffs/{conversation_id}/draft", summary="AI assist: a reply the agent may send")
async def draft(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    instruction = _text(await json_body(request), "instruction", request) or None
    written = await _desk(request, lambda d: d.draft(conversation_id, instruction), missing=404)
    return {"text": written.text, "source": written.source, "problems": list(getattr(written, "problems", ()))}


@router.post("/handoffs/{conversation_id}/tools/{tool}", summary="AI assist: run a store tool for the customer")
async def run_tool(conversation_id: str, tool: str, request: Request,
                   caller: AgentCaller = Depends(agent_caller)) -> Any:
    args = (await json_body(request)).get("args", {})
    if not isinstance(args, dict) or not all(isinstance(v, (str, int, bool)) for v in args.values()):
        raise HTTPException(422, "args must be an object of strings, numbers or booleans")
    return await _desk(request, lambda d: d.run_tool(conversation_id, caller.agent.name, tool, args))


@router.get("/delegation-tasks", summary="The tasks an agent can give the AI (guardrails/modes.yaml `delegation`)")
async def delegation_tasks(request: Request, caller: AgentCaller = Depends(agent_caller)) -> dict[str, Any]:
    return {"tasks": task_list(context(request).engine.deps.mode_policy())}


@router.post("/handoffs/{conversation_id}/delegate",
             summary="Give the AI a data-gathering task: it asks the customer, runs the task's tool, gives it back")
async def delegate(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    task = _text(await json_body(request), "task", request, required=True).strip()

    def run(d: Any) -> dict[str, Any]:
        result = d.delegate(conversation_id, caller.agent.name, task)
        return {"ok": True, "status": result.mode, "asked": result.reply,
                "delegation": snapshot(d.engine.state(conversation_id), None)["delegation"]}

    return await _desk(request, run)


@router.post("/handoffs/{conversation_id}/take-back", summary="Stop the AI's task and carry on yourself")
async def take_back(conversation_id: str, request: Request, caller: AgentCaller = Depends(agent_caller)) -> Any:
    result = await _desk(request, lambda d: d.take_back(conversation_id, caller.agent.name))
    return {"ok": True, "status": result.mode}


@router.get("/handoffs/{conversation_id}/kb",
            summary="AI assist: knowledge-base passages for a question (default: the customer's last message)")
async def knowledge(conversation_id: str, request: Request, q: str = "",
                    caller: AgentCaller = Depends(agent_caller)) -> Any:
    limit = context(request).policy.max_message_chars
    if len(q) > limit:
        raise HTTPException(422, f"q is {len(q)} characters; the limit is {limit}")
    passages = await _desk(request, lambda d: d.lookup(conversation_id, q))
    return {"query": q.strip() or None, "passages": passages}


# -- helpers ---------------------------------------------------------------------------------------------------------
def _text(body: dict[str, Any], key: str, request: Request, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise HTTPException(422, f"{key} must be a {'non-empty ' if required else ''}string")
    limit = context(request).policy.max_message_chars
    if len(value) > limit:
        raise HTTPException(422, f"{key} is {len(value)} characters; the limit is {limit}")
    return value


async def _desk(request: Request, action: Callable[[Any], Any], missing: int = 409) -> Any:
    """Run a desk action in a worker thread; the desk's refusals become readable 4xx answers."""
    try:
        with log_context(conversation_id=request.path_params.get("conversation_id")):
            return await run_in_threadpool(action, context(request).desk)
    except QueueError as exc:
        status = 404 if str(exc).startswith("no handoff") else missing
        raise HTTPException(status, str(exc)) from None
    except TimeoutError:
        raise HTTPException(503, "the conversation is busy; try again", headers={"Retry-After": "2"}) from None
    except ValueError as exc:  # e.g. "not waiting for a human"
        raise HTTPException(409, str(exc)) from None
