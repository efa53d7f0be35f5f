"""The engine: runs one customer turn (or one agent event) through the graph and reports what happened.

This is the narrow waist every front end uses (`bot chat` now; the agent desk, HTTP API, voice and eval later): it
owns the compiled graph, its checkpointer and the dependencies, starts conversations, decides whether a message
starts a fresh run or resumes a conversation that is waiting for a human, streams reply text to a callback, and
keeps the conversation log in step with the checkpoints.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langgraph.types import Command

from bot import csat
from bot.checks import default_input_checks, default_output_checks
from bot.config import Settings
from bot.llm import LLMClient, LLMError, track_usage
from bot.logs import log_context
from bot.modes import LiveModes, assign
from bot.persistence import Database, close_checkpointer, open_checkpointer
from bot.policy import load_policies
from bot.presence import Presence
from bot.queue import Queue
from bot.rails.pii import LazyRedactor, Vault, placeholder_key
from bot.slots import TURNS
from bot.sql import database_errors
from graphs.builder import build_graph
from graphs.context import Deps
from graphs.state import new_conversation

log = logging.getLogger(__name__)

TextCallback = Callable[[str], None]
AGENT_EVENTS = ("agent_reply", "agent_tool", "resolve", "hand_back", "delegate", "take_back")


class UnknownCustomer(ValueError):
    """`--customer` named an id the store does not know."""


class UnknownConversation(ValueError):
    """A conversation id that was never started."""


@dataclass
class TurnResult:
    conversation_id: str
    reply: str
    intent: str | None
    sentiment: float | None
    handoff: bool
    handoff_reason: str | None
    blocked: bool
    confidence: float | None = None
    language: str | None = None
    mode: str = "ai"
    source: str = ""
    total_s: float = 0.0
    llm_s: float = 0.0
    llm_calls: int = 0
    first_text_s: float | None = None  # message in → first reply text out (after the output checks)
    llm_first_token_s: float | None = None  # message in → the LLM's first token (includes the bot's own work)
    events: list[dict[str, Any]] = field(default_factory=list)
    operating_mode: str = "ai_first"  # guardrails/modes.yaml: ai_first | human_led | hybrid
    cohort: str = "default"
    csat_asked: bool = False  # this reply ends with the CSAT question (a front end may show 1–5 buttons)

    def contract(self) -> dict[str, Any]:
        """The JSON object of CONTRACTS §1 (`bot chat` without a TTY)."""
        return {
            "conversation_id": self.conversation_id,
            "reply": self.reply,
            "intent": self.intent,
            "sentiment": self.sentiment,
            "handoff": self.handoff,
            "handoff_reason": self.handoff_reason,
            "blocked": self.blocked,
        }


def customer_record(store: Any, customer_id: str | None, tier: str | None = None,
                    language: str | None = None, strict: bool = True) -> dict[str, Any]:
    """The customer as the state holds it. Unknown ids raise when `strict`, else become guests with that tier."""
    if customer_id:
        found = store.get_customer(customer_id)
        if found is not None:
            return {"id": found.id, "name": found.name, "email": found.email, "tier": tier or found.tier,
                    "language": language or found.language, "known": True}
        if strict:
            known = ", ".join(c.id for c in store.list_customers()[:12])
            raise UnknownCustomer(f"unknown customer id {customer_id!r}; the demo store has: {known}")
    return {"id": customer_id, "name": None, "email": None, "tier": tier or "standard",
            "language": language or "en", "known": False}


def guarded_checks(policies: Any, rails: bool = True, cache_dir: Any = None,
                   pii_key: bytes | None = None) -> tuple[list[Any], list[Any]]:
    """The input and output checks: the engine's limits and grounding, with the guardrail Guards between them."""
    inputs, outputs = default_input_checks(policies.input), default_output_checks()
    if not rails:
        return inputs, outputs
    input_rails, output_rails = _rails(policies.directory, _mtimes(policies.directory), cache_dir, pii_key)
    return inputs + [input_rails], outputs[:1] + [output_rails] + outputs[1:]


def _mtimes(directory: Any) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime for p in sorted(directory.glob("*.yaml")))


_RAILS: dict[tuple[Any, tuple[float, ...]], tuple[Any, Any]] = {}
_RAILS_LOCK = threading.Lock()


def _rails(directory: Any, mtimes: tuple[float, ...], cache_dir: Any, pii_key: bytes | None) -> tuple[Any, Any]:
    """The Guards for one policy directory, built once per process (and again only if a policy file changed).

    `cache_dir` is where the attack classifier is cached; the model depends only on its training data, so Guards
    built once serve every engine of the process whatever its data directory.
    """
    from bot.rails.guards import build_rails
    from graphs.prompts import SYSTEM, VOTE_SYSTEM

    with _RAILS_LOCK:
        key = (directory, mtimes, pii_key)
        if key not in _RAILS:
            _RAILS[key] = build_rails(load_policies(directory), (SYSTEM, VOTE_SYSTEM), cache_dir=cache_dir,
                                      pii_key=pii_key)
        return _RAILS[key]


def summarizer(deps: Deps, enabled: bool = True) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The package writer for the `summarize_handoff` node: the LLM's summary and suggested reply, each checked
    against the transcript (`bot/summary.py`) and replaced by the fact-made one when it fails. It uses whatever LLM
    `deps` holds when a handoff happens (front ends connect the LLM after building the engine)."""
    if not enabled:
        return None

    def write(package: dict[str, Any]) -> dict[str, Any]:
        if deps.llm is None or package.get("reason") == "system_error":
            return {}  # no LLM, or the LLM just failed: the fact-made notes, without more calls to wait on
        from bot.summary import draft_reply, summarize

        policy = deps.policies.rails.output
        summary, reply = summarize(deps.llm, package, policy), draft_reply(deps.llm, package, policy=policy)
        return {"summary": summary.text, "summary_source": summary.source,
                "suggested_reply": reply.text, "suggested_reply_source": reply.source}

    return write


def settle_heap() -> None:
    """Move everything loaded so far (models, rails, policies: millions of objects) out of the garbage collector's
    sight. Without it a full collection walks all of them — a 230 ms stop of every turn in flight, seen under
    `bot bench`'s concurrency load; with it, a collection looks at what turns allocate."""
    import gc

    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class SafePoints:
    """Where a run is checkpointed on its way, besides its end (where it always is)."""

    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


# Before `respond`: the message has been taken in (its redacted text) and decided on, and the LLM is about to write;
# after each tool run, so that finishing a run a crash cut never runs a tool twice. Checkpointing after every step
# instead costs a write and LangGraph's bookkeeping per step; that, on one interpreter, was what limited the
# conversations one worker carries (`bot bench` concurrency: see the README's Performance section).
SAFE_POINTS = SafePoints(before=("respond",), after=("act", "assist_tool"))
NONE = SafePoints()  # for runs never recovered (eval replays): one checkpoint a run


class Engine:
    def __init__(self, deps: Deps, db: Database, checkpointer: Any) -> None:
        self.deps = deps
        self.db = db
        if isinstance(deps.queue, Queue):
            self.queue = deps.queue
        else:
            presence = Presence(db, deps.clock, policy=deps.policies.handoff)
            self.queue = Queue(db, deps.policies.handoff, deps.clock, presence=presence)
            deps.capacity = presence.capacity
        self.presence = self.queue.presence or Presence(db, deps.clock, policy=deps.policies.handoff)
        self.checkpointer = checkpointer
        self.graph = build_graph(checkpointer)
        self.safe_points = SAFE_POINTS
        if deps.modes is None:
            deps.modes = LiveModes(deps.policies.directory / "modes.yaml", deps.policies.modes)
        deps.handoff_status = self._handoff_status
        deps.queue_length = self._queue_length
        self.model_sync = None  # the activated intent model follows the database (bot/model_sync.py)
        if getattr(deps.nlu, "cache_dir", None) is not None and not getattr(deps.nlu, "pinned", True):
            from bot.model_sync import ModelSync

            self.model_sync = ModelSync(db, deps.nlu.cache_dir)

    def _queue_length(self, skill: str, language: str) -> int:
        return len(self.queue.entries(("waiting",), skills=(skill,), languages=(language,)))

    def _handoff_status(self, conversation_id: str) -> str | None:
        entry = self.queue.get(conversation_id)
        return entry.status if entry is not None else None

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, llm: LLMClient | None, *, checkpointer: Any = None,
                      **overrides: Any) -> "Engine":
        from bot.nlu import NLU
        from bot.store import open_store
        from bot.store.kb import default_kb

        policies = load_policies(settings.policy_dir)
        db = Database.from_settings(settings)
        presence = Presence(db, policy=policies.handoff)
        queue = Queue(db, policies.handoff, presence=presence)
        deps = Deps(
            llm=llm,
            nlu=NLU(settings.data_dir / "nlu", model=settings.intent_model),
            store=open_store(settings.store_path),
            kb=default_kb(),
            policies=policies,
            queue=queue,
            wait_minutes=queue.wait_minutes,
            capacity=presence.capacity,
            llm_languages=settings.llm_languages,
            vault=Vault(),
        )
        deps.summarizer = summarizer(deps, policies.handoff.llm_summary)
        deps.modes = LiveModes(settings.policy_dir / "modes.yaml", policies.modes, force=settings.mode)
        deps.history = db.customer_history
        pii_key = placeholder_key(settings.data_dir)
        if "input_checks" not in overrides or "output_checks" not in overrides:
            deps.input_checks, deps.output_checks = guarded_checks(policies, settings.rails,
                                                                   settings.data_dir / "rails", pii_key)
        # Agent text is redacted by the input rails' own redactor when they are loaded (same key, one presidio
        # engine); a process without rails (the agent desk) builds a redactor only when it first needs one.
        rails_redact = next((c.redact for c in deps.input_checks if hasattr(c, "redact")), None)
        deps.redactor = rails_redact or LazyRedactor(policies.rails.pii, pii_key)
        for key, value in overrides.items():
            setattr(deps, key, value)
        return cls(deps, db, checkpointer if checkpointer is not None else open_checkpointer(settings, db))

    def warm(self) -> None:
        """Load the classifier, sentiment and language models, and put the system prompt in the LLM's cache.

        Without this the first customer message pays ~1.5 s for the system prompt on a 2-core CPU. The LLM part
        runs in the background while the NLU loads; a first message simply queues behind it at the server.
        """
        import threading

        from graphs.prompts import system_prompt

        llm = self.deps.llm
        if llm is not None:
            messages = [{"role": "system", "content": system_prompt(self.deps.policies.messages.store_name)},
                        {"role": "user", "content": "hello"}]

            def ping() -> None:
                try:
                    llm.complete(messages, max_tokens=1)
                except LLMError as exc:  # an unreachable endpoint shows up on the first real turn, handled there
                    log.warning("LLM warm-up failed: %s", exc)

            threading.Thread(target=ping, name="llm-warm-up", daemon=True).start()
        if self.model_sync is not None:
            self.model_sync.check()  # start with the intent model the deployment chose
        self.deps.nlu.warm()
        for check in self.deps.input_checks:  # the rails' first use builds recognizers and caches: not on a customer
            check.check("where is my order A10002? it's warm-up@example.com, +1 415 555 0100")
        settle_heap()


    # -- conversations ------------------------------------------------------------------------------------------
    def start(self, customer_id: str | None = None, *, channel: str = "chat", conversation_id: str | None = None,
              tier: str | None = None, language: str | None = None, strict: bool = True) -> str:
        """Register a conversation (idempotent for an existing id) and return its id."""
        conversation_id = conversation_id or f"c-{uuid.uuid4().hex[:12]}"
        if self.db.conversation(conversation_id) is None:
            customer = customer_record(self.deps.store, customer_id, tier, language, strict)
            cohort = assign(self.deps.mode_policy(), customer, channel, conversation_id)
            self.db.create_conversation(conversation_id, customer, channel, cohort)
        return conversation_id

    def end(self, conversation_id: str) -> float | None:
        """The customer left (a chat closed, a call hung up): when they gave no rating, record the CSAT proxy
        from the sentiment trail (labelled proxy). Returns the proxy stored, or None."""
        values = self.state(conversation_id)
        asked = values.get("csat") or {}
        if asked.get("source") == "customer" or not values:
            return None
        score = csat.proxy(values.get("sentiment_trail") or [], self.deps.mode_policy().csat.proxy_turns)
        if score is None or not self.db.rate(conversation_id, score, "proxy"):
            return None
        return score

    def rate(self, conversation_id: str, score: int) -> None:
        """A rating given outside the conversation (a survey link, the web chat's buttons after it closed)."""
        if not 1 <= int(score) <= 5:
            raise ValueError(f"a rating is a whole number from 1 to 5, not {score!r}")
        if self.db.conversation(conversation_id) is None:
            raise UnknownConversation(f"no conversation {conversation_id!r}")
        self.db.rate(conversation_id, int(score), "customer")

    def exists(self, conversation_id: str) -> bool:
        return self.db.conversation(conversation_id) is not None

    def state(self, conversation_id: str) -> dict[str, Any]:
        return dict(self.graph.get_state(self._config(conversation_id)).values)

    def waiting_for_human(self, conversation_id: str) -> bool:
        snapshot = self.graph.get_state(self._config(conversation_id))
        return "wait_for_human" in (snapshot.next or ())

    def _config(self, conversation_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": conversation_id}}

    # -- turns ----------------------------------------------------------------------------------------------------
    def turn(self, conversation_id: str, text: str, on_text: TextCallback | None = None,
             heard: dict[str, Any] | None = None, message_id: str | None = None) -> TurnResult:
        """Run one customer message. Streams reply text to `on_text` as it passes the output checks.

        `heard` comes with a spoken message: speech recognition's confidence and engine (see `graphs.nodes.intake`).
        `message_id` is the client's id for this message: sending it again (a retry after a lost answer or a killed
        worker) never answers it twice — a finished turn is reported again, a turn cut mid-way is finished from its
        checkpoint. A run that a killed process left unfinished is finished before a new message is taken.
        """
        record = self.db.conversation(conversation_id)
        if record is None:
            raise UnknownConversation(f"no conversation {conversation_id!r}; start one first")
        with self._exclusive(conversation_id):
            seen, done = self.db.last_message(conversation_id) if message_id else (None, False)
            snapshot = self.graph.get_state(self._config(conversation_id))
            if message_id and seen == message_id and done:
                return self._result(conversation_id, dict(snapshot.values), replayed=True)
            if self._cut(snapshot):
                finished = self._finish_cut_run(conversation_id, on_text if seen == message_id else None, snapshot)
                if message_id and seen == message_id:
                    return finished  # the retried message was taken in before the cut: this is its answer
                snapshot = self.graph.get_state(self._config(conversation_id))  # an earlier message's answer first
            if message_id:
                self.db.take_message(conversation_id, message_id)
            # The raw text goes in through the run's context (never checkpointed); `input_checks` stores it redacted.
            if "wait_for_human" in (snapshot.next or ()):
                payload: Any = Command(resume={"kind": "customer"})
            elif snapshot.values:
                payload = {"message": ""}
            else:
                cohort = {"name": record.get("cohort") or "default", "mode": record.get("operating_mode") or "ai_first"}
                payload = dict(new_conversation(conversation_id, record["customer"], record["channel"], cohort),
                               message="")
            return self._run(conversation_id, payload, on_text, customer_turn=True, inbox=text, heard=heard)

    def agent_event(self, conversation_id: str, event: dict[str, Any],
                    on_text: TextCallback | None = None) -> TurnResult:
        """Resume a conversation waiting for a human with an agent's reply, tool request, resolution or hand-back."""
        if event.get("kind") not in AGENT_EVENTS:
            raise ValueError(f"unknown agent event kind {event.get('kind')!r}")
        # LangGraph stores a resume value with the checkpoint: personal data leaves the event before it goes in.
        event = {k: self.deps.redact(v) if k in ("text", "note") and isinstance(v, str) else v
                 for k, v in event.items()}
        with self._exclusive(conversation_id):
            snapshot = self.graph.get_state(self._config(conversation_id))
            if self._cut(snapshot):  # a customer's turn cut mid-way: its answer comes before the agent's event
                self._finish_cut_run(conversation_id, None, snapshot)
                snapshot = self.graph.get_state(self._config(conversation_id))
            if "wait_for_human" not in (snapshot.next or ()):
                raise ValueError(f"conversation {conversation_id} is not waiting for a human")
            return self._run(conversation_id, Command(resume=event), on_text, customer_turn=False)

    @contextmanager
    def _exclusive(self, conversation_id: str, timeout: float = 60.0) -> Iterator[None]:
        """One run of the conversation at a time (across processes), its log lines tagged with its id, the
        database's failures reported as DatabaseUnavailable, and the run computing in one of the process's turn
        slots (`bot.slots`; taken after the conversation's lock, so a turn waiting for that lock holds no slot)."""
        with log_context(conversation_id=conversation_id), database_errors(), \
                self.db.conversation_lock(conversation_id, timeout), TURNS.held():
            yield

    # -- crash recovery -------------------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish the runs that a killed process left mid-way (their run leases are stale); returns their ids.

        `bot serve` calls this at start-up and then every few seconds, so a customer whose worker died gets the
        answer to the message it had taken in, without writing again.
        """
        finished = []
        for conversation_id in self.db.stale_locks():
            try:
                with self._exclusive(conversation_id, timeout=0.5):
                    if self._finish_cut_run(conversation_id, None) is not None:
                        finished.append(conversation_id)
            except TimeoutError:
                continue  # another worker got there first
        return finished

    @staticmethod
    def _cut(snapshot: Any) -> bool:
        """True when the last run stopped part-way and can be finished from its checkpoint. A run that waits for a
        human has not stopped part-way; one cut before its first safe point left no checkpoint (its message was not
        taken in: the retry answers it as new), and one waiting at `intake` has not begun."""
        pending = set(snapshot.next or ())
        return bool(pending) and "wait_for_human" not in pending and pending != {"intake"}

    def _finish_cut_run(self, conversation_id: str, on_text: TextCallback | None,
                        snapshot: Any = None) -> TurnResult | None:
        """Run a checkpointed run that was cut mid-way to its end (call with the conversation's lock held; pass the
        `snapshot` when the caller has just read it)."""
        snapshot = snapshot or self.graph.get_state(self._config(conversation_id))
        if not self._cut(snapshot):
            return None
        log.warning("conversation %s: finishing a run that was cut mid-way (next: %s)", conversation_id,
                    ", ".join(sorted(snapshot.next)))
        return self._run(conversation_id, None, on_text, customer_turn=False, message_done=True)

    def _run(self, conversation_id: str, payload: Any, on_text: TextCallback | None,
             customer_turn: bool, inbox: str | None = None, heard: dict[str, Any] | None = None,
             message_done: bool = False) -> TurnResult:
        started = time.perf_counter()
        if self.model_sync is not None:
            self.model_sync.check()  # another host's `bot train` may have chosen another intent model (every 30 s)
        usage = track_usage()
        first_text: list[float] = []

        def emit(text: str) -> None:
            if not text:
                return
            if not first_text:
                first_text.append(time.perf_counter() - started)
            if on_text:
                on_text(text)

        values = self._invoke(payload, self._config(conversation_id),
                              dataclasses.replace(self.deps, emit=emit, inbox=inbox, heard=heard))
        total = time.perf_counter() - started
        handoff = values.get("handoff") or {}
        self.db.sync_transcript(
            conversation_id, values.get("transcript", []), values.get("mode", "ai"), handoff.get("reason"),
            latency_ms=round(total * 1000, 2) if customer_turn else None,
            blocked=customer_turn and bool(values.get("blocked")), handoff_turn=handoff.get("turn"),
            message_done=customer_turn or message_done,
            tokens=(usage.prompt_tokens, usage.completion_tokens) if usage.calls else None,
        )
        rated = values.get("csat") or {}
        if rated.get("at") == values.get("turn") and rated.get("source") in ("customer", "proxy"):
            self.db.rate(conversation_id, rated["score"], rated["source"])  # in the turn that rated (or skipped)
        result = self._result(conversation_id, values)
        result.total_s, result.llm_s, result.llm_calls = total, usage.seconds, usage.calls
        result.first_text_s = first_text[0] if first_text else None
        result.llm_first_token_s = usage.first_token_at[0] - started if usage.first_token_at else None
        return result

    def _invoke(self, payload: Any, config: dict[str, Any], context: Deps) -> dict[str, Any]:
        """Run the graph to its end or its next `interrupt()`, checkpointed at the end and at the safe points.

        LangGraph checkpoints at exit only (`durability="exit"`) and pauses at each safe point (`interrupt_before`
        / `interrupt_after`), which writes a checkpoint there; the run then goes on from it at once.
        """
        while True:
            values: dict[str, Any] = {}
            paused = False
            for mode, chunk in self.graph.stream(payload, config, context=context, durability="exit",
                                                 interrupt_before=list(self.safe_points.before),
                                                 interrupt_after=list(self.safe_points.after),
                                                 stream_mode=["values", "updates"]):
                if mode == "values":
                    values = chunk
                elif chunk.get("__interrupt__") == ():  # a pause at a safe point (an `interrupt()` has a value)
                    paused = True
            if not paused:
                return values
            payload = None

    @staticmethod
    def _result(conversation_id: str, values: dict[str, Any], replayed: bool = False) -> TurnResult:
        handoff = values.get("handoff") or {}
        understanding = values.get("understanding") or {}
        mode = values.get("mode", "ai")
        return TurnResult(
            conversation_id=conversation_id,
            reply=values.get("reply", ""),
            intent=understanding.get("intent"),
            sentiment=understanding.get("sentiment"),
            handoff=mode == "human",
            handoff_reason=handoff.get("reason") if mode == "human" else None,
            blocked=bool(values.get("blocked")),
            confidence=understanding.get("confidence"),
            language=understanding.get("language"),
            mode=mode,
            source="replayed" if replayed else values.get("reply_source", ""),
            events=[e for e in values.get("check_events", [])],
            operating_mode=(values.get("cohort") or {}).get("mode", "ai_first"),
            cohort=(values.get("cohort") or {}).get("name", "default"),
            csat_asked=csat.awaiting(values),
        )

    def close(self) -> None:
        self.db.close()
        close_checkpointer(self.checkpointer)
