"""Agent presence: who is signed in to take handoffs, with which skills and languages, and how much room they have.

One row per agent in `agent_presence` (the same database as the queue, so `bot agent` in a terminal, the web console
and every `bot serve` worker see the same roster). An agent's load is not stored: it is counted from the handoffs
they hold (`claimed`), so it can never drift from the queue. The queue reads this to refuse work beyond an agent's
limit and to route `next` by their skills; the bot reads it to tell a customer the truth about the wait (nobody
online who can help → it does not promise a time) and the hybrid orchestrator to know whether anyone is free.

Writes run in `db.transaction()` and reads in `db.reading()`, with `?` placeholders: the same SQL on SQLite and
PostgreSQL. Reads never raise on a skill or language they do not know — it simply matches no agent — because the
graph asks with whatever the conversation holds; writes validate everything, in one sentence.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.persistence import Database
from bot.policy import HandoffPolicy, load_policies

STATUSES = ("online", "away", "offline")
MAX_CONCURRENT = 50
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_NAME = re.compile(r"^\S{1,64}$")
_COLUMNS = "p.agent, p.status, p.skills, p.languages, p.max_concurrent, p.updated_at, (SELECT COUNT(*) FROM" \
           " handoffs h WHERE h.status = 'claimed' AND h.claimed_by = p.agent)"
_ORDER = {status: n for n, status in enumerate(STATUSES)}


class PresenceError(ValueError):
    """A presence change that cannot be made (said in one sentence)."""


@dataclass(frozen=True)
class AgentPresence:
    """One agent as the roster shows them. `skills == ()` means any skill."""

    agent: str
    status: str  # online | away | offline
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    max_concurrent: int
    load: int  # handoffs they hold now (claimed)
    updated_at: float

    @property
    def room(self) -> int:
        return max(0, self.max_concurrent - self.load)

    def can_take(self, skill: str, language: str) -> bool:
        return (not self.skills or skill in self.skills) and language in self.languages

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "status": self.status, "skills": list(self.skills),
                "languages": list(self.languages), "max_concurrent": self.max_concurrent, "load": self.load,
                "room": self.room, "updated_at": self.updated_at}


def known_skills(policy: HandoffPolicy) -> tuple[str, ...]:
    """Every skill a handoff can need (guardrails/handoff.yaml): an agent's skills must be among them."""
    return tuple(sorted({*policy.skill_by_reason.values(), *policy.skill_by_intent.values(), policy.default_skill}))


@lru_cache(maxsize=4)
def _default_policy(directory: Path) -> HandoffPolicy:
    return load_policies(directory).handoff


class Presence:
    """The `agent_presence` table over a :class:`Database` (thread-safe: every call is one transaction or read)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time, *,
                 policy: HandoffPolicy | None = None) -> None:
        from bot.config import PROJECT_ROOT

        self.db = db
        self.clock = clock
        self.skills = known_skills(policy or _default_policy(PROJECT_ROOT / "guardrails"))

    # -- changes --------------------------------------------------------------------------------------------------
    def sign_in(self, agent: str, skills: Iterable[str] = (), languages: Iterable[str] = ("en",),
                max_concurrent: int = 3) -> AgentPresence:
        """Go online with these skills (none: any), languages and limit; signing in again replaces them."""
        agent = self._name(agent)
        skills, languages = self._skills(skills), self._languages(languages)
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) \
                or not 1 <= max_concurrent <= MAX_CONCURRENT:
            raise PresenceError(f"max_concurrent is a whole number from 1 to {MAX_CONCURRENT}, got {max_concurrent!r}")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO agent_presence (agent, status, skills, languages, max_concurrent, updated_at)"
                " VALUES (?, 'online', ?, ?, ?, ?) ON CONFLICT (agent) DO UPDATE SET status = excluded.status,"
                " skills = excluded.skills, languages = excluded.languages,"
                " max_concurrent = excluded.max_concurrent, updated_at = excluded.updated_at",
                (agent, json.dumps(skills), json.dumps(languages), max_concurrent, self.clock()),
            )
        return self._get(agent)

    def set_status(self, agent: str, status: str) -> AgentPresence:
        """`online` or `away` (away: keeps the conversations held, takes no new ones through `next`)."""
        agent = self._name(agent)
        if status not in ("online", "away"):
            raise PresenceError(f"a status is online or away (sign out to go offline), got {status!r}")
        with self.db.transaction() as conn:
            changed = conn.execute("UPDATE agent_presence SET status = ?, updated_at = ? WHERE agent = ?",
                                   (status, self.clock(), agent)).rowcount
        if not changed:
            raise PresenceError(f"agent {agent} has not signed in yet: sign in first")
        return self._get(agent)

    def sign_out(self, agent: str) -> bool:
        """Go offline (skills and limit are kept for next time). Idempotent; False when the agent was never seen,
        and then no row is made: an agent without one keeps the queue's behaviour without presence."""
        agent = self._name(agent)
        with self.db.transaction() as conn:
            changed = conn.execute("UPDATE agent_presence SET status = 'offline', updated_at = ? WHERE agent = ?",
                                   (self.clock(), agent)).rowcount
        return bool(changed)

    # -- reading --------------------------------------------------------------------------------------------------
    def get(self, agent: str) -> AgentPresence | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM agent_presence p WHERE p.agent = ?", (agent,)).fetchone()
        return _presence(row) if row else None

    def roster(self) -> list[AgentPresence]:
        """Every agent seen: online first, then away, then offline; by name within each."""
        with self.db.reading() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM agent_presence p").fetchall()
        return sorted((_presence(r) for r in rows), key=lambda a: (_ORDER.get(a.status, 3), a.agent))

    def room(self, agent: str) -> int | None:
        """Free slots (their limit minus the handoffs they hold), or None for an agent with no presence row."""
        found = self.get(agent)
        return found.room if found else None

    def capacity(self, skill: str, language: str) -> dict[str, int]:
        """Agents online who could take a handoff needing `skill` in `language`, how many of them have room, and
        how many conversations they can still take between them (`slots`)."""
        able = self.able(skill, language) or []
        return {"online": len(able), "free": sum(1 for a in able if a.room > 0),
                "slots": sum(max(0, a.room) for a in able)}

    def able(self, skill: str, language: str) -> list[AgentPresence] | None:
        """The online agents who could take it; None when no agent has a presence row at all (presence unused)."""
        roster = self.roster()
        if not roster:
            return None
        language = str(language or "").lower()
        return [a for a in roster if a.status == "online" and a.can_take(str(skill or ""), language)]

    # -- for the queue (inside its write transaction) ----------------------------------------------------------------
    def locked(self, conn: Any, agent: str) -> AgentPresence | None:
        """The agent's row read in the caller's transaction, locked on PostgreSQL until it ends: two claims by one
        agent at once are counted one after the other (SQLite's write lock already does that).

        Two statements on purpose: a PostgreSQL statement that waited for the lock still counts with the snapshot
        it started with (read committed), so the count must be a new statement made once the lock is held."""
        if conn.execute("SELECT agent FROM agent_presence WHERE agent = ?" + self.db.for_update,
                        (agent,)).fetchone() is None:
            return None
        return _presence(conn.execute(f"SELECT {_COLUMNS} FROM agent_presence p WHERE p.agent = ?",
                                      (agent,)).fetchone())

    # -- validation -----------------------------------------------------------------------------------------------
    def _get(self, agent: str) -> AgentPresence:
        found = self.get(agent)
        assert found is not None
        return found

    @staticmethod
    def _name(agent: str) -> str:
        if not isinstance(agent, str) or not _NAME.match(agent):
            raise PresenceError(f"an agent name is 1 to 64 characters without spaces, got {agent!r}")
        return agent

    def _skills(self, skills: Iterable[str]) -> list[str]:
        chosen = [skills] if isinstance(skills, str) else list(skills)
        for skill in chosen:
            if skill not in self.skills:
                raise PresenceError(f"unknown skill {skill!r}; the skills of guardrails/handoff.yaml are "
                                    f"{', '.join(self.skills)}")
        return list(dict.fromkeys(chosen))

    @staticmethod
    def _languages(languages: Iterable[str]) -> list[str]:
        chosen = [languages] if isinstance(languages, str) else list(languages)
        if not chosen:
            raise PresenceError("an agent needs at least one language (a 2-letter code such as en)")
        for language in chosen:
            if not isinstance(language, str) or not _LANGUAGE.match(language.lower()):
                raise PresenceError(f"a language is a 2-letter ISO 639-1 code such as en or de, got {language!r}")
        return list(dict.fromkeys(language.lower() for language in chosen))


def _presence(row: Any) -> AgentPresence:
    agent, status, skills, languages, max_concurrent, updated_at, load = row
    return AgentPresence(agent, status, tuple(json.loads(skills)), tuple(json.loads(languages)), int(max_concurrent),
                         int(load), float(updated_at))
