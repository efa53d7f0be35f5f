"""Credentials of the web front ends, kept in the shared database so that every `bot serve` worker honours them.

- A customer's conversation token: 256 random bits handed out once when the conversation starts; the database keeps
  only its SHA-256. Whoever holds it may read and continue that conversation, nobody else (a conversation id alone
  is not enough), so customers can only read their own conversation.
- An agent's console session: a random cookie value (stored as its SHA-256) with its own CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from bot.persistence import Database


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class AgentSession:
    agent: str
    csrf_token: str


class WebSessions:
    def __init__(self, db: Database, clock=time.time) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.clock = clock

    # -- customers ----------------------------------------------------------------------------------------------------
    def issue_conversation_token(self, conversation_id: str, days: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO web_tokens (conversation_id, token_hash, expires_at) VALUES (?, ?, ?) ON CONFLICT"
                " (conversation_id) DO UPDATE SET token_hash = excluded.token_hash, expires_at = excluded.expires_at",
                (conversation_id, _digest(token), self.clock() + days * 86400),
            )
        return token

    def conversation_token_ok(self, conversation_id: str, token: str) -> bool:
        with self.db.reading() as conn:
            row = conn.execute("SELECT token_hash, expires_at FROM web_tokens WHERE conversation_id = ?",
                               (conversation_id,)).fetchone()
        # compare even when there is no row, so timing does not tell which conversation ids exist
        stored, expires = row if row else ("0" * 64, 0.0)
        return hmac.compare_digest(stored, _digest(token)) and expires > self.clock()

    # -- agents -------------------------------------------------------------------------------------------------------
    def open_agent_session(self, agent: str, hours: float) -> tuple[str, AgentSession]:
        """Returns the cookie value (given to the browser only) and the session."""
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = self.clock()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM agent_sessions WHERE expires_at < ?", (now,))
            conn.execute("INSERT INTO agent_sessions (session_hash, agent, csrf_token, expires_at) VALUES (?, ?, ?, ?)",
                         (_digest(cookie), agent, csrf, now + hours * 3600))
        return cookie, AgentSession(agent, csrf)

    def agent_session(self, cookie: str) -> AgentSession | None:
        with self.db.reading() as conn:
            row = conn.execute("SELECT agent, csrf_token, expires_at FROM agent_sessions WHERE session_hash = ?",
                               (_digest(cookie),)).fetchone()
        if row is None or row[2] <= self.clock():
            return None
        return AgentSession(row[0], row[1])

    def close_agent_session(self, cookie: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM agent_sessions WHERE session_hash = ?", (_digest(cookie),))
