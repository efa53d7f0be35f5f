"""The agent desk: what a human agent can do with the handoff queue, for every front end (`bot agent`, HTTP later).

Each action checks the handoff's state in the queue first (who holds it), then resumes the conversation's graph
through the engine (`Command(resume=...)`), so the customer's conversation, its checkpoints and the queue move
together. Agents are named by the caller (the CLI's `--agent`, a login later); the desk trusts that name.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from bot.engine import Engine, TurnResult
from bot.feedback import Feedback, Flag
from bot.handoff import build_package
from bot.queue import Entry, QueueError

__all__ = ["Desk", "QueueError", "View"]


@dataclass(frozen=True)
class View:
    """A handoff as an agent reads it: the package made at handoff time, refreshed with the conversation so far."""

    entry: Entry
    package: dict[str, Any]  # the current package (transcript, facts and actions up to now)
    mode: str  # ai | human | closed

    def as_json(self) -> dict[str, Any]:
        return dict(self.entry.as_json(), **{k: v for k, v in self.package.items() if k not in ("priority",)},
                    mode=self.mode)


class Desk:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queue = engine.queue

    # -- reading ----------------------------------------------------------------------------------------------------
    def waiting(self, *, skills: tuple[str, ...] = (), languages: tuple[str, ...] = (),
                statuses: tuple[str, ...] = ("waiting",)) -> list[Entry]:
        return self.queue.entries(statuses, skills=skills, languages=languages)

    def show(self, conversation_id: str) -> View:
        entry = self._entry(conversation_id)
        state = self.engine.state(conversation_id)
        package = entry.package
        if state.get("handoff"):
            package = build_package(state, state["handoff"], self.engine.deps.clock(), self.queue.policy)
        return View(entry, package, state.get("mode", "ai"))

    # -- queue actions ----------------------------------------------------------------------------------------------
    def claim(self, conversation_id: str, agent: str) -> Entry:
        return self.queue.claim(conversation_id, agent)

    def claim_next(self, agent: str, *, skills: tuple[str, ...] = (), languages: tuple[str, ...] = ()) -> Entry | None:
        return self.queue.claim_next(agent, skills=skills, languages=languages)

    def release(self, conversation_id: str, agent: str) -> None:
        self.queue.release(conversation_id, agent)

    # -- conversation actions ---------------------------------------------------------------------------------------
    def reply(self, conversation_id: str, agent: str, text: str) -> TurnResult:
        """Send `text` to the customer (claims a waiting handoff for `agent` first)."""
        if not text.strip():
            raise QueueError("an empty reply was not sent")
        self.queue.require_holder(conversation_id, agent)
        result = self.engine.agent_event(conversation_id, {"kind": "agent_reply", "text": text, "agent": agent})
        self._refresh(conversation_id)
        return result

    def resolve(self, conversation_id: str, agent: str, note: str | None = None) -> TurnResult:
        self.queue.require_holder(conversation_id, agent)
        self._refresh(conversation_id)
        result = self.engine.agent_event(conversation_id, {"kind": "resolve", "agent": agent})
        self.queue.close(conversation_id, agent, "resolved", note)
        return result

    def hand_back(self, conversation_id: str, agent: str, note: str) -> TurnResult:
        """Give the conversation back to the AI with a note it will use. Refused past the policy's hand-back limit:
        a conversation the AI already failed after a hand-back stays with people (no ping-pong)."""
        if not note.strip():
            raise QueueError("a hand-back needs a note: say what the AI should know")
        self.queue.require_holder(conversation_id, agent)
        handbacks = int(self.engine.state(conversation_id).get("handbacks") or 0)
        limit = self.queue.policy.max_handbacks
        if handbacks >= limit:
            raise QueueError(
                f"conversation {conversation_id} was already handed back to the AI {handbacks} time(s) (limit"
                f" {limit}, guardrails/handoff.yaml max_handbacks): reply or resolve it instead")
        self._refresh(conversation_id)
        result = self.engine.agent_event(conversation_id, {"kind": "hand_back", "note": note, "agent": agent})
        self.queue.close(conversation_id, agent, "returned", note or None)
        return result

    # -- AI assist (the human-led approach: the AI works beside the agent, never speaking for them) ---------------
    def draft(self, conversation_id: str, instruction: str | None = None) -> Any:
        """The AI's draft reply for the agent (checked against the transcript; a safe template when it fails)."""
        from bot.summary import draft_reply

        deps = self.engine.deps
        return draft_reply(deps.llm, self.show(conversation_id).package, instruction, deps.policies.rails.output)

    def run_tool(self, conversation_id: str, agent: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run a store tool for the agent, as the conversation's customer, and record it with the actions taken.

        The desk runs it (with the raw values the agent typed: the vault of the customer's process is not here);
        what is recorded and returned has personal fields dropped and personal data replaced by placeholders.
        """
        from bot import tools

        function = tools.TOOLS.get(tool)
        if function is None:
            raise QueueError(f"unknown tool {tool!r}; available: {', '.join(sorted(tools.TOOLS))}")
        parameters = inspect.signature(function).parameters
        args = dict(args)
        # a guest is verified by the e-mail the agent gives; tools that do not take one get it only as the caller
        email = args.pop("email", None) if "email" not in parameters else args.get("email")
        args = _typed(tool, parameters, args)
        try:
            inspect.signature(function).bind(None, None, **args)
        except TypeError as exc:
            wanted = [p for p in parameters if p not in ("store", "caller")]
            raise QueueError(f"{tool}: {exc}; it takes {', '.join(wanted)}") from None
        self.queue.require_holder(conversation_id, agent)
        customer = self.engine.state(conversation_id).get("customer") or {}
        caller = tools.Caller(customer_id=customer.get("id")) if customer.get("known") else tools.Caller(email=email)
        result = tools.run(tool, self.engine.deps.store, caller, args)
        redact = self.engine.deps.redact
        recorded = {"tool": result.tool, "ok": result.ok, "code": result.code, "message": redact(result.message),
                    "args": {k: redact(v) if isinstance(v, str) else v for k, v in args.items()},
                    "data": tools.scrub_private(result.data)}
        self.engine.agent_event(conversation_id, {"kind": "agent_tool", "result": recorded, "agent": agent})
        self._refresh(conversation_id)
        return recorded

    def lookup(self, conversation_id: str, query: str, k: int = 3) -> list[dict[str, Any]]:
        """AI assist: the knowledge-base passages that answer `query` (the agent's words, or the customer's last
        message when empty), best first, with their scores; only those above the KB's answer threshold."""
        self._entry(conversation_id)
        if not query.strip():
            transcript = self.engine.state(conversation_id).get("transcript", [])
            said = [t["text"] for t in transcript if t["role"] == "customer"]
            query = said[-1] if said else ""
        if not query.strip():
            raise QueueError("nothing to look up: give a question")
        kb = self.engine.deps.kb
        return [{"title": p.title, "text": p.text, "source": p.source, "score": round(p.score, 3)}
                for p in kb.search(query[:500], k)
                if p.score >= kb.threshold]

    # -- hybrid: work given to the AI and taken back ----------------------------------------------------------------
    def delegate(self, conversation_id: str, agent: str, task: str) -> TurnResult:
        """Give the AI a data-gathering task of guardrails/modes.yaml `delegation` (e.g. `order_details`): it asks
        the customer for what is missing, runs the task's tool, and hands the conversation back to `agent`."""
        from graphs import delegation

        tasks = self.engine.deps.mode_policy().delegation
        if task not in tasks:
            raise QueueError(f"unknown task {task!r}; guardrails/modes.yaml delegation has: {', '.join(sorted(tasks))}")
        self.queue.require_holder(conversation_id, agent)
        state = self.engine.state(conversation_id)
        if state.get("delegation"):
            raise QueueError(f"the AI is already on a task for conversation {conversation_id}: take it back first")
        if not delegation.missing(state, list(tasks[task].collect), tasks[task].then):
            raise QueueError(f"conversation {conversation_id} already has {', '.join(tasks[task].collect)}: "
                             "nothing for the AI to collect")
        result = self.engine.agent_event(conversation_id, {"kind": "delegate", "task": task, "agent": agent})
        self._refresh(conversation_id)
        return result

    def take_back(self, conversation_id: str, agent: str) -> TurnResult:
        """Stop the AI's task and carry on yourself (replying does the same)."""
        self.queue.require_holder(conversation_id, agent)
        if not self.engine.state(conversation_id).get("delegation"):
            raise QueueError(f"the AI has no task in conversation {conversation_id}")
        result = self.engine.agent_event(conversation_id, {"kind": "take_back", "agent": agent})
        self._refresh(conversation_id)
        return result

    # -- feedback (bot/feedback.py): any conversation, handed off or not --------------------------------------------
    def flag(self, conversation_id: str, agent: str, kind: str, **correction: Any) -> Flag:
        """Flag what the bot did in a conversation (see :class:`bot.feedback.Feedback`); the conversation's audit
        events say which rail blocked a turn."""
        events = self.engine.state(conversation_id).get("events") or []
        return self.feedback.flag(conversation_id, agent, kind, events=events, **correction)

    @property
    def feedback(self) -> Feedback:
        deps = self.engine.deps
        return Feedback(self.engine.db, deps.redact, deps.clock)

    def _refresh(self, conversation_id: str) -> None:
        """Queue the package again with what the agent did (their replies and tool runs), keeping its status."""
        state = self.engine.state(conversation_id)
        if state.get("handoff"):
            self.queue.put(build_package(state, state["handoff"], self.engine.deps.clock(), self.queue.policy))

    def _entry(self, conversation_id: str) -> Entry:
        entry = self.queue.get(conversation_id)
        if entry is None:
            raise QueueError(f"no handoff for conversation {conversation_id}")
        return entry


_BOOLS = {"true": True, "yes": True, "y": True, "1": True, "false": False, "no": False, "n": False, "0": False}


def _typed(tool: str, parameters: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Text arguments (a CLI, a form) converted to the types the tool declares: `limit=3`, `damaged=yes`."""
    typed = {}
    for key, value in args.items():
        kind = str(parameters[key].annotation) if key in parameters else ""
        if isinstance(value, str) and kind in ("bool", "<class 'bool'>"):
            if value.lower() not in _BOOLS:
                raise QueueError(f"{tool}: {key} is yes or no, got {value!r}")
            value = _BOOLS[value.lower()]
        elif isinstance(value, str) and kind in ("int", "<class 'int'>"):
            if not value.strip().lstrip("-").isdigit():
                raise QueueError(f"{tool}: {key} is a whole number, got {value!r}")
            value = int(value)
        # no larger whole numbers: JSON does not carry them exactly, the checkpoint (msgpack) not past 64 bits at all
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            raise QueueError(f"{tool}: {key} is out of range, got {value}")
        typed[key] = value
    return typed
