"""What every route needs, as FastAPI dependencies: the worker's context, JSON-only bodies, rate limits, and the
two kinds of caller — a customer holding a conversation token, an agent holding a session cookie (plus its CSRF
token on every change) or an API token.

Why these choices: customer tokens travel in the Authorization header, which a browser never attaches on its own, so
customer calls cannot be forged cross-site; the agent cookie is HttpOnly and SameSite=Strict, and every request that
changes something must also carry the session's CSRF token in a header that only our own page can read and send.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request

from bot.accounts import Accounts, Agent
from bot.config import Settings
from bot.desk import Desk
from bot.engine import Engine
from bot.policy import WebPolicy
from bot.web.security import RateLimiter, client_address
from bot.web.sessions import WebSessions

COOKIE = "bot_agent_session"


@dataclass
class WebContext:
    """One per worker process: the engine (graph, queue, rails), the desk over it, and the web credentials."""

    engine: Engine
    settings: Settings
    accounts: Accounts
    sessions: WebSessions = field(init=False)
    desk: Desk = field(init=False)
    limiter: RateLimiter = field(default_factory=RateLimiter)

    def __post_init__(self) -> None:
        self.sessions = WebSessions(self.engine.db)
        self.desk = Desk(self.engine)

    @property
    def policy(self) -> WebPolicy:
        return self.engine.deps.policies.web


def context(request: Request) -> WebContext:
    return request.app.state.web


def client(request: Request) -> str:
    return client_address(request, context(request).policy.trusted_proxies)


def limit(request: Request, key: str, per: int, window_s: float, what: str) -> None:
    context(request).limiter.hit(key, per, window_s, what)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a clear 4xx: wrong content type (415), malformed JSON (400), not an object."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if not raw.strip():
        return {}
    if kind != "application/json":
        raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")
    try:
        data = json.loads(raw)
        json.dumps(data, ensure_ascii=False).encode()  # a lone surrogate (a "\ud800" escape) cannot be stored
    except RecursionError:
        raise HTTPException(400, "malformed JSON: nested too deeply") from None
    except UnicodeEncodeError:
        raise HTTPException(400, "malformed JSON: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the JSON body must be an object")
    return data


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


# -- customers -------------------------------------------------------------------------------------------------------
def conversation_caller(request: Request, conversation_id: str) -> str:
    """The conversation id, when the request holds its token. A wrong token and an unknown id get the same 404, so
    nobody can probe which conversations exist."""
    token = bearer(request)
    if token is None:
        raise HTTPException(401, "this conversation needs its token (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    if len(conversation_id) > 64 or not context(request).sessions.conversation_token_ok(conversation_id, token):
        raise HTTPException(404, "no such conversation for this token")
    return conversation_id


# -- agents ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentCaller:
    agent: Agent
    csrf_token: str | None  # None for API-token callers (no cookie, nothing to forge)


def agent_caller(request: Request) -> AgentCaller:
    """The signed-in agent (session cookie or API token), or 401. Changes need the CSRF header with a cookie."""
    ctx = context(request)
    token = bearer(request)
    if token is not None:
        agent = ctx.accounts.by_token(token)
        if agent is None:
            raise HTTPException(401, "unknown or revoked agent token", headers={"WWW-Authenticate": "Bearer"})
        return AgentCaller(agent, None)
    cookie = request.cookies.get(COOKIE)
    session = ctx.sessions.agent_session(cookie) if cookie else None
    agent = ctx.accounts.agents().get(session.agent) if session else None
    if session is None or agent is None:
        raise HTTPException(401, "log in first")
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(403, "missing or wrong X-CSRF-Token header")
    return AgentCaller(agent, session.csrf_token)
