"""The FastAPI application of `bot serve`: the customer and agent APIs, the two pages, and the protections around
them, assembled in one place so the whole surface reads top to bottom.

Middleware, outermost first: access log (no personal data) → request counters (/metrics) → security headers → body
size limit → CORS (closed unless `guardrails/web.yaml` lists origins) → the routes, each of which checks its caller
and its rate limits. Liveness, readiness and metrics are `bot/web/ops.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.accounts import AccountError, Accounts
from bot.config import Settings
from bot.engine import Engine
from bot.metrics import RequestMetrics
from bot.rails.pii import placeholder_key
from bot.sql import DatabaseUnavailable
from bot.web import agent, customer, feedback, ops, voice
from bot.web.deps import WebContext, client, context, limit
from bot.web.recovery import recovering
from bot.web.security import AccessLog, BodyLimit, SecurityHeaders, TooManyRequests

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def throttle(request: Request) -> None:
    """Every API request counts against its client's per-minute budget."""
    limit(request, f"all:{client(request)}", context(request).policy.rate_limits.requests_per_minute, 60, "requests")


def create_app(engine: Engine, settings: Settings, accounts: Accounts | None = None) -> FastAPI:
    # No /docs: FastAPI's Swagger page loads its script from a CDN, which the CSP forbids and an offline machine
    # cannot reach; /openapi.json is the schema (any OpenAPI viewer or client generator reads it).
    app = FastAPI(title="Customer-service bot", version="1", docs_url=None, redoc_url=None,
                  description="Chat with the bot (customers) and work the handoff queue (agents).",
                  lifespan=lambda _app: recovering(engine))  # finishes runs a killed worker left mid-way
    app.state.web = WebContext(engine, settings, accounts or Accounts(settings.agents_path))
    policy = engine.deps.policies.web

    app.include_router(customer.router, dependencies=[Depends(throttle)])
    app.include_router(agent.router, dependencies=[Depends(throttle)])
    app.include_router(feedback.router, dependencies=[Depends(throttle)])  # review and flag the bot's mistakes
    app.include_router(voice.router)  # a WebSocket: its own checks (token, rate limit) in bot/web/voice.py
    # /healthz, /readyz, /metrics: outside the API's rate limit (probes and scrapes); /metrics has its own rule
    app.state.ops = ops.Operations(engine, settings.rails)
    app.include_router(ops.router)

    @app.get("/", include_in_schema=False)
    async def chat_page() -> FileResponse:
        return FileResponse(STATIC / "chat.html", headers={"Cache-Control": "no-cache"})

    @app.get("/agent", include_in_schema=False)
    async def agent_page() -> FileResponse:
        return FileResponse(STATIC / "agent.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- errors: always {"error": "one sentence"} ---------------------------------------------------------------
    @app.exception_handler(StarletteHTTPException)  # ours, and the router's own 404 and 405
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = {"Not Found": "no such page", "Method Not Allowed": "method not allowed here"}.get(exc.detail,
                                                                                                    exc.detail)
        return JSONResponse({"error": str(detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(TooManyRequests)
    async def too_many(request: Request, exc: TooManyRequests) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(DatabaseUnavailable)  # nothing was changed: the client may simply try again
    async def database_away(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": "the service is briefly unavailable; please try again in a moment"},
                            status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(AccountError)
    async def accounts_broken(request: Request, exc: AccountError) -> JSONResponse:
        log.error("%s", exc)
        return JSONResponse({"error": "agent accounts are unavailable; see the server log"}, status_code=503)

    # -- middleware (added innermost first) -----------------------------------------------------------------------
    if policy.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=policy.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=policy.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics)
    app.add_middleware(AccessLog, trusted_proxies=policy.trusted_proxies, key=placeholder_key(settings.data_dir))
    return app
