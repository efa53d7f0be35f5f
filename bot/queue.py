"""The handoff queue: packages waiting for an agent, claimed, resolved or returned to the AI.

It lives in the same database as the checkpoints (`BOT_DB_URL`), so `bot chat`, `bot agent` and any number of other
processes share it. Every state change is one guarded UPDATE inside a write transaction (`BEGIN IMMEDIATE` on SQLite;
on PostgreSQL the read that decides it locks the row, `FOR UPDATE`), so when two agents claim the same handoff at once
exactly one wins, and a handoff is never delivered twice or lost.

Statuses: `waiting` → `claimed` (by one agent) → `resolved` | `returned` (handed back to the AI); a claimed handoff
can be released to `waiting` again. A conversation has at most one open (waiting or claimed) handoff: a new one for
the same conversation (after a hand-back) gets its own row, keyed by the turn it was made at.

With a :class:`bot.presence.Presence`, agents who signed in are held to what they declared: no claim beyond their
`max_concurrent`, no new work through `next` while away or offline, `next` routed by their skills and languages,
and the customer's wait estimated from who is online. Agents who never signed in work as before, so a desk that
does not use presence (a script, an old client) is not locked out.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.handoff import aged_priority
from bot.persistence import Database
from bot.policy import PRIORITY_RANK, HandoffPolicy

if TYPE_CHECKING:
    from bot.presence import AgentPresence, Presence

OPEN = ("waiting", "claimed")
STATUSES = ("waiting", "claimed", "resolved", "returned")


class QueueError(ValueError):
    """A desk action that the handoff's state does not allow (said in one clear sentence)."""


class AtCapacity(QueueError):
    """The agent already holds as many conversations as they signed in for."""


@dataclass(frozen=True)
class Entry:
    """One handoff as the desk sees it: the package plus where it stands now."""

    package: dict[str, Any]
    status: str
    claimed_by: str | None
    waiting_minutes: float  # since it was queued (until claimed, for a claimed one)
    priority: str  # the package's priority, raised for the time waited

    def as_json(self) -> dict[str, Any]:
        return dict(self.package, status=self.status, claimed_by=self.claimed_by, priority=self.priority,
                    initial_priority=self.package.get("priority"), waiting_minutes=round(self.waiting_minutes, 1))


class Queue:
    """The handoff queue over a :class:`Database` (its connection and write lock are shared)."""

    def __init__(self, db: Database, policy: HandoffPolicy, clock: Any = time.time, *,
                 presence: Presence | None = None) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self.presence = presence

    # -- the graph side ---------------------------------------------------------------------------------------------
    def put(self, package: dict[str, Any]) -> None:
        """Queue a package, or update the open one of the same handoff (a re-run node never queues twice)."""
        now = self.clock()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO handoffs (conversation_id, turn, reason, priority, package, skill, language, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id, turn) DO UPDATE SET"
                " package = excluded.package, skill = excluded.skill, language = excluded.language,"
                " updated_at = excluded.updated_at",
                (package["conversation_id"], package.get("turn") or 0, package["reason"], package["priority"],
                 json.dumps(package), package.get("skill"), package.get("language"), now, now),
            )

    def wait_minutes(self, package: dict[str, Any] | None = None) -> float | None:
        """An honest wait estimate, or None when there is no recent history to base one on.

        Median time from queued to claimed over the last `wait_history` claims within `wait_window_hours`, times the
        customer's place in the queue (handoffs of higher or equal priority queued before) divided by the number of
        agents who claimed something in that window.

        With presence in use (some agent has a presence row) and a package that names its `skill` and `language`,
        the divisor is the agents online now who can take it, not who worked earlier in the day: after a shift
        ends, yesterday's claimers say nothing about today. When nobody online can take it the answer is None, so
        the customer is told an agent will come when one is free rather than a time nobody will keep.
        """
        able = self._able(package)
        if able is not None and not able:
            return None
        now = self.clock()
        since = now - self.policy.wait_window_hours * 3600
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT claimed_at - created_at, claimed_by FROM handoffs WHERE claimed_at IS NOT NULL"
                " AND claimed_at >= ? ORDER BY claimed_at DESC LIMIT ?", (since, self.policy.wait_history),
            ).fetchall()
            waiting = conn.execute(
                "SELECT conversation_id, priority, created_at FROM handoffs WHERE status = 'waiting'").fetchall()
        if not rows:
            return None
        median = statistics.median(max(0.0, r[0]) for r in rows) / 60
        agents = len(able) if able else max(1, len({r[1] for r in rows}))
        mine = PRIORITY_RANK.get((package or {}).get("priority", "normal"), 2)
        me = (package or {}).get("conversation_id")
        ahead = sum(1 for cid, level, _ in waiting if cid != me and PRIORITY_RANK.get(level, 2) <= mine)
        return median * max(1.0, (ahead + 1) / agents)

    # -- the desk side ----------------------------------------------------------------------------------------------
    def entries(self, statuses: tuple[str, ...] = ("waiting",), *, skills: tuple[str, ...] = (),
                languages: tuple[str, ...] = ()) -> list[Entry]:
        """Handoffs in `statuses`, most urgent (after ageing) and then longest waiting first."""
        marks = ", ".join("?" * len(statuses))
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT package, status, claimed_by, created_at, claimed_at FROM handoffs WHERE status IN ({marks})",
                statuses,
            ).fetchall()
        found = [self._entry(*row) for row in rows]
        found = [e for e in found if (not skills or e.package.get("skill") in skills)
                 and (not languages or e.package.get("language") in languages)]
        return sorted(found, key=lambda e: (PRIORITY_RANK[e.priority], -e.waiting_minutes))

    def get(self, conversation_id: str) -> Entry | None:
        """The conversation's latest handoff (open or not)."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT package, status, claimed_by, created_at, claimed_at FROM handoffs WHERE conversation_id = ?"
                " ORDER BY turn DESC LIMIT 1", (conversation_id,),
            ).fetchone()
        return self._entry(*row) if row else None

    def claim(self, conversation_id: str, agent: str) -> Entry:
        """Take a waiting handoff. Exactly one of several agents racing for it wins; the others get a QueueError.

        An agent with a presence row is refused (AtCapacity) once they hold `max_concurrent` conversations; the
        count is made in the same transaction as the claim, so two claims at once cannot both slip under it. An
        explicit claim is allowed while away or offline: the agent chose that conversation (e.g. to finish it).
        """
        with self.db.transaction() as conn:
            row = self._open(conn, conversation_id)
            status, holder, turn = row
            if status == "claimed" and holder == agent:
                pass  # claiming again is harmless
            elif status == "claimed":
                raise QueueError(f"conversation {conversation_id} is already claimed by {holder}")
            else:
                if self.presence is not None:
                    _check_room(self.presence.locked(conn, agent))
                conn.execute(
                    "UPDATE handoffs SET status = 'claimed', claimed_by = ?, claimed_at = ?, updated_at = ?"
                    " WHERE conversation_id = ? AND turn = ? AND status = 'waiting'",
                    (agent, self.clock(), self.clock(), conversation_id, turn),
                )
        entry = self.get(conversation_id)
        assert entry is not None
        return entry

    def claim_next(self, agent: str, *, skills: tuple[str, ...] = (), languages: tuple[str, ...] = ()) -> Entry | None:
        """Claim the most urgent waiting handoff this agent can take (their skills and languages; returning
        conversations wait for the agent who handed them back, when that agent asks).

        For an agent with a presence row, skills and languages not given are the ones they signed in with, and an
        agent who is away or offline, or at capacity, is refused: `next` is how new work arrives, and someone who
        stepped away must not be handed a customer who then waits on nobody.
        """
        me = self.presence.get(agent) if self.presence is not None else None
        if me is not None:
            if me.status != "online":
                raise QueueError(f"agent {agent} is {me.status}: sign in (status online) to take new conversations")
            _check_room(me)
            skills, languages = skills or me.skills, languages or me.languages
        for entry in self.entries(("waiting",), skills=skills, languages=languages):
            preferred = entry.package.get("preferred_agent")
            if preferred and preferred != agent and entry.waiting_minutes < self.policy.aging_minutes:
                continue
            try:
                return self.claim(entry.package["conversation_id"], agent)
            except AtCapacity:
                raise
            except QueueError:
                continue  # another agent was faster: take the next one
        return None

    def require_holder(self, conversation_id: str, agent: str) -> Entry:
        """The open handoff, claimed by `agent` (a waiting one is claimed for them first)."""
        entry = self.get(conversation_id)
        if entry is None or entry.status not in OPEN:
            raise QueueError(f"conversation {conversation_id} has no open handoff")
        if entry.status == "waiting":
            return self.claim(conversation_id, agent)
        if entry.claimed_by != agent:
            raise QueueError(f"conversation {conversation_id} is claimed by {entry.claimed_by}, not {agent}")
        return entry

    def release(self, conversation_id: str, agent: str) -> None:
        entry = self.get(conversation_id)
        if entry is None or entry.status != "claimed" or entry.claimed_by != agent:
            raise QueueError(f"conversation {conversation_id} is not claimed by {agent}")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE handoffs SET status = 'waiting', claimed_by = NULL, claimed_at = NULL, updated_at = ?"
                " WHERE conversation_id = ? AND status = 'claimed' AND claimed_by = ?",
                (self.clock(), conversation_id, agent),
            )

    def close(self, conversation_id: str, agent: str, status: str, note: str | None = None) -> None:
        """Mark the open handoff `resolved` or `returned` (to the AI)."""
        if status not in ("resolved", "returned"):
            raise ValueError(f"cannot close a handoff as {status!r}")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE handoffs SET status = ?, claimed_by = COALESCE(claimed_by, ?), closed_at = ?, note = ?,"
                " updated_at = ? WHERE conversation_id = ? AND status IN ('waiting', 'claimed')",
                (status, agent, self.clock(), note, self.clock(), conversation_id),
            )

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _able(self, package: dict[str, Any] | None) -> list[AgentPresence] | None:
        """Online agents who can take the package; None when presence does not apply (no presence, no agent with
        a row, or a package that does not say its skill and language)."""
        if self.presence is None or not package or not package.get("skill") or not package.get("language"):
            return None
        return self.presence.able(package["skill"], package["language"])

    def _open(self, conn: Any, conversation_id: str) -> tuple[str, str | None, int]:
        row = conn.execute(
            "SELECT status, claimed_by, turn FROM handoffs WHERE conversation_id = ? AND status IN ('waiting',"
            " 'claimed') ORDER BY turn DESC LIMIT 1" + self.db.for_update, (conversation_id,),
        ).fetchone()
        if row is None:
            known = conn.execute("SELECT status FROM handoffs WHERE conversation_id = ? ORDER BY turn DESC LIMIT 1",
                                 (conversation_id,)).fetchone()
            if known is None:
                raise QueueError(f"no handoff for conversation {conversation_id}")
            raise QueueError(f"the handoff of conversation {conversation_id} is already {known[0]}")
        return row

    def _entry(self, package: str, status: str, claimed_by: str | None, created_at: float,
               claimed_at: float | None) -> Entry:
        data = json.loads(package)
        waited = ((claimed_at if claimed_at is not None else self.clock()) - created_at) / 60
        level = aged_priority(data.get("priority", "normal"), waited, self.policy) if status == "waiting" \
            else data.get("priority", "normal")
        return Entry(data, status, claimed_by, waited, level)


def _check_room(me: AgentPresence | None) -> None:
    if me is not None and me.load >= me.max_concurrent:
        raise AtCapacity(f"agent {me.agent} is at capacity ({me.load} of {me.max_concurrent} conversations):"
                         " resolve, hand back or release one first")
