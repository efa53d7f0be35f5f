"""Operations endpoints: `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus).

Liveness answers as long as the event loop does: restarting a worker whose database is down would not help it.
Readiness is what a load balancer should route on: the database answers a trivial query, the LLM endpoint answers
HTTP, and the rails and the classifier are loaded. Each check runs in a thread with a short timeout, one at a time
per check (a hung database leaves one thread waiting, not one per probe), and its result is cached briefly — the
LLM's for a few seconds, so a probe storm never reaches the model server. Bodies name the failing check and the
error's type only: connection errors quote hosts and users, which a public probe has no business reading (the full
text goes to the log).

`/metrics` shows business numbers, so it is not public: see `guardrails/web.yaml` (`metrics.allow_from`) and
`BOT_METRICS_TOKEN`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from bot.engine import Engine
from bot.logs import env_value
from bot.metrics import StoreCollector, exposition
from bot.web.deps import bearer, client, context
from evals.drift_metrics import MonitorCollector

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0  # a check slower than this counts as failed
CACHE_S = {"database": 1.0, "llm": 5.0, "models": 1.0}
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what every Prometheus reads (our names are plain ASCII)


class Readiness:
    """The three readiness checks, each single-flight and cached (see the module docstring)."""

    def __init__(self, engine: Engine, rails: bool = True, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self.engine, self.rails, self.timeout_s = engine, rails, timeout_s
        self._lock = threading.Lock()
        self._running: dict[str, Future[dict[str, Any]]] = {}
        self._cached: dict[str, tuple[float, dict[str, Any]]] = {}

    async def report(self) -> dict[str, dict[str, Any]]:
        checks = {"database": self._database, "llm": self._llm, "models": self._models}
        results = await asyncio.gather(*(self._check(name, fn) for name, fn in checks.items()))
        return dict(zip(checks, results))

    async def _check(self, name: str, fn: Callable[[], str]) -> dict[str, Any]:
        cached = self._cached.get(name)
        if cached and time.monotonic() - cached[0] < CACHE_S[name]:
            return cached[1]
        with self._lock:
            future = self._running.get(name)
            if future is None or future.done():
                future = self._running[name] = self._start(name, fn)
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout_s)
        except asyncio.TimeoutError:
            result = {"ok": False, "error": f"no answer within {self.timeout_s:g} s"}
        self._cached[name] = (time.monotonic(), result)
        return result

    def _start(self, name: str, fn: Callable[[], str]) -> Future[dict[str, Any]]:
        """Run the check in a daemon thread: one stuck on a dead database must not hold up the process's exit."""
        future: Future[dict[str, Any]] = Future()
        threading.Thread(target=lambda: future.set_result(self._timed(name, fn)), name=f"readyz-{name}",
                         daemon=True).start()
        return future

    @staticmethod
    def _timed(name: str, fn: Callable[[], str]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            detail = fn()
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready", with its type
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            return {"ok": False, "error": type(exc).__name__, "ms": round((time.perf_counter() - started) * 1000, 1)}
        return {"ok": True, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}

    def _database(self) -> str:
        self.engine.db.ping()  # SELECT 1 (DatabaseUnavailable when it cannot)
        return "answers"

    def _llm(self) -> str:
        llm = self.engine.deps.llm
        base = str(getattr(llm, "base_url", "") or "")
        if llm is None or not base.startswith(("http://", "https://")):
            return "in-process" if llm is not None else "none configured"
        key = getattr(getattr(llm, "_client", None), "api_key", None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        answer = httpx.get(base.rstrip("/") + "/models", headers=headers, follow_redirects=False,
                           timeout=httpx.Timeout(self.timeout_s, connect=min(1.0, self.timeout_s)))
        if answer.status_code in (401, 403):
            raise PermissionError(f"the endpoint refused the key (HTTP {answer.status_code})")
        if answer.status_code >= 500:
            raise ConnectionError(f"HTTP {answer.status_code}")
        return f"answers (HTTP {answer.status_code})"

    def _models(self) -> str:
        deps = self.engine.deps
        if getattr(deps.nlu, "_classifier", True) is None:  # bot.nlu.NLU loads lazily; engine.warm() loads it
            raise RuntimeError("the intent classifier is not loaded yet")
        if not self.rails:
            return "classifier loaded; rails off"
        names = {getattr(c, "name", "") for c in [*deps.input_checks, *deps.output_checks]}
        missing = {"input_rails", "output_rails"} - names
        if missing:
            raise RuntimeError(f"not loaded: {', '.join(sorted(missing))}")
        return "classifier and rails loaded"


class Operations:
    """One per app: the readiness checks, the database collector and the metrics token."""

    def __init__(self, engine: Engine, rails: bool = True) -> None:
        policy = engine.deps.policies.web.metrics
        self.readiness = Readiness(engine, rails)
        self.store = StoreCollector(engine.db, policy.window_minutes * 60, policy.cache_seconds)
        policies = engine.deps.policies  # the drift monitor (guardrails/monitor.yaml): computed in the background
        self.monitor = MonitorCollector(engine.db, policies.monitor, policies.modes.csat.proxy_turns)
        token = env_value("BOT_METRICS_TOKEN")
        self.token_digest = hashlib.sha256(token.encode()).digest() if token else None


def operations(request: Request) -> Operations:
    return request.app.state.ops


@router.get("/healthz", summary="Liveness: the worker answers")
async def healthz() -> dict[str, Any]:
    return {"status": "ok", "worker": os.getpid()}


@router.get("/readyz", summary="Readiness: database, LLM endpoint, rails and classifier")
async def readyz(request: Request) -> JSONResponse:
    checks = await operations(request).readiness.report()
    failing = [name for name, result in checks.items() if not result["ok"]]
    if not failing:
        return JSONResponse({"status": "ready", "checks": checks}, headers={"Cache-Control": "no-store"})
    reasons = "; ".join(f"{name}: {checks[name]['error']}" for name in failing)
    return JSONResponse({"status": "not ready", "failing": failing, "checks": checks, "error": f"not ready: {reasons}"},
                        status_code=503, headers={"Cache-Control": "no-store", "Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics (loopback or BOT_METRICS_TOKEN; see guardrails/web.yaml)")
async def metrics(request: Request) -> Response:
    ops = operations(request)
    _allowed(request, ops)
    body = await asyncio.to_thread(exposition, ops.store, ops.monitor)
    return Response(body, media_type=TEXT_FORMAT, headers={"Cache-Control": "no-store"})


def _allowed(request: Request, ops: Operations) -> None:
    """A bearer token must be BOT_METRICS_TOKEN; without one, the client must be in `metrics.allow_from` and not
    behind an untrusted proxy (a proxy on this host would otherwise make every visitor look like loopback)."""
    sent = bearer(request)
    if sent is not None:
        if ops.token_digest and hmac.compare_digest(hashlib.sha256(sent.encode()).digest(), ops.token_digest):
            return
        raise HTTPException(401, "wrong metrics token", headers={"WWW-Authenticate": "Bearer"})
    policy = context(request).policy
    peer = request.client.host if request.client else ""
    if any(h in request.headers for h in PROXY_HEADERS) and not _within(peer, policy.trusted_proxies):
        raise HTTPException(403, "metrics are not served through an untrusted proxy; send the metrics token")
    if not _within(client(request), policy.metrics.allow_from):
        raise HTTPException(403, "metrics are for the monitoring system: scrape from an allowed address or send "
                                 "Authorization: Bearer <BOT_METRICS_TOKEN>")


def _within(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an address (a test client's name, a unix socket): never allowed by address
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)  # validated in WebPolicy
