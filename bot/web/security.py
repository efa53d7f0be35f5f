"""The HTTP layer's protections, each small and separate: client address, rate limits, body size, response
headers, and an access log that holds no personal data.

All of them are plain ASGI middleware or plain functions, so the routes stay about conversations, not about
defence; the numbers come from `guardrails/web.yaml` (:class:`bot.policy.WebPolicy`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import math
import threading
import time
from collections import deque
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("bot.web.access")

# Pages and API: only our own scripts, styles and connections; never framed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:;"
       " frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), microphone=(self)"),  # the chat's Talk button
]


class TooManyRequests(Exception):
    def __init__(self, retry_after: float, what: str) -> None:
        super().__init__(f"too many {what}: try again in {math.ceil(retry_after)} s")
        self.retry_after = math.ceil(retry_after)


class RateLimiter:
    """Sliding-window counters per key, in this process (see guardrails/web.yaml for what that means with workers)."""

    def __init__(self, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: float, what: str = "requests") -> None:
        """Count one event for `key`; raise TooManyRequests when it is over `limit` per `window_s`."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if len(hits) >= limit:
                raise TooManyRequests(hits[0] + window_s - now, what)
            hits.append(now)
            if len(self._hits) > 50_000:  # forget idle keys so a scan of many addresses cannot grow memory
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - 3600]:
                    del self._hits[k]

    def check(self, key: str, limit: int, window_s: float, what: str) -> None:
        """Raise TooManyRequests when `key` is already at `limit`, without counting (failed logins count later)."""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            recent = [t for t in hits or () if t > now - window_s]
            if len(recent) >= limit:
                raise TooManyRequests(recent[0] + window_s - now, what)


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The client's address: the peer, or the last untrusted hop of X-Forwarded-For when the peer is a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted_proxies):
            return hop
    return peer


def _in(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an address (a test client's name): never a proxy
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)  # validated in WebPolicy


def pseudonym(address: str, key: bytes) -> str:
    """A short stable stand-in for a client address in logs (an IP address is personal data). Keyed (HMAC with the
    installation's PII key): a plain hash of an IPv4 address is undone by hashing all four billion of them."""
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:10]


def error_body(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    return [(b"content-type", b"application/json")], json.dumps({"error": message}).encode()


class BodyLimit:
    """Refuse request bodies over `max_bytes` (413) — by Content-Length at once, or while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _send_error(send, 413, f"the request body is over {self.max_bytes} bytes")
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, f"the request body is over {self.max_bytes} bytes")


class _TooLarge(HTTPException):
    """Raised while the body is read: FastAPI passes HTTP exceptions through (anything else would become a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is over {max_bytes} bytes")


async def _send_error(send: Send, status: int, message: str) -> None:
    headers, body = error_body(status, message)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Add the CSP and the other hardening headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + HEADERS)
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessLog:
    """One line per request: method, route *template* (never ids, query strings or bodies), status, duration,
    and a pseudonym of the client address. Conversation ids and texts stay out of the access log."""

    def __init__(self, app: ASGIApp, trusted_proxies: list[str], key: bytes) -> None:
        self.app, self.trusted_proxies, self.key = app, trusted_proxies, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status: list[int] = [500]

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route: Any = scope.get("route")
            static = scope["path"].startswith("/static/")
            path = getattr(route, "path", None) or ("/static/…" if static else "(unmatched)")
            client = pseudonym(client_address(Request(scope), self.trusted_proxies), self.key)
            ms = round((time.perf_counter() - started) * 1000, 1)
            # `fields` are the JSON log's own keys (bot/logs.py); `bare`: no log context (no conversation ids) here
            access_log.info("%s %s %d %.1fms client=%s", scope["method"], path, status[0], ms, client,
                            extra={"bare": True, "fields": {"method": scope["method"], "route": path,
                                                            "status": status[0], "duration_ms": ms, "client": client}})
