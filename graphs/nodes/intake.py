"""receive → input_checks: take one customer message in, and let nothing malformed go further."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graphs.context import Deps
from graphs.nodes import rating
from graphs.state import ConversationState


def receive(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Start a turn: count it and clear every per-turn field (the message itself arrives in the input)."""
    return {
        "mode": "ai" if state.get("mode") == "closed" else state.get("mode", "ai"),
        "turn": state.get("turn", 0) + 1,
        "understanding": {},
        "decision": {},
        "tool_results": [],
        "context": [],
        "reply": "",
        "reply_source": "",
        "streamed": "",
        "blocked": False,
        "rail_flags": {},
        "check_events": [],
        "deferred": [],
        "orchestration": None,
    }


def input_checks(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Run every input check in order (limits, then the guardrail rails); a refusal or a block ends the turn.

    The raw message comes from the run's context (`deps.inbox`), never from the checkpointed state; what is stored
    from here on is the checks' text: normalised, personal data replaced by placeholders. The raw values behind the
    placeholders go to the vault, in memory, for the tools.
    """
    deps = runtime.context
    text = deps.inbox if deps.inbox is not None else state.get("message", "")
    events: list[dict[str, Any]] = []
    flags: dict[str, Any] = {}
    for check in deps.input_checks:
        verdict = check.check(text)
        events += verdict.events
        text = verdict.text
        flags.update(verdict.flags)
        if verdict.secrets and deps.vault is not None:
            deps.vault.keep(state["conversation_id"], verdict.secrets)
        if verdict.blocked or (verdict.refuse and not _unheard(state, deps, text)):
            return _refused(state, deps, verdict, text, events)
    if _unheard(state, deps, text):
        return _ask_again(state, deps, text, events)
    return {
        "message": text,
        "rail_flags": flags,
        "check_events": events,
        "events": [dict(e, turn=state["turn"]) for e in events],
        "transcript": [_customer_turn(state, text, deps)],
        "unheard_streak": 0,
    }


def _unheard(state: ConversationState, deps: Deps, text: str) -> bool:
    """A spoken message recognised too poorly to act on (a person handling the call reads it as it is)."""
    if deps.heard is None or state.get("mode") == "human":
        return False
    return not text.strip() or float(deps.heard.get("confidence") or 0.0) < deps.policies.voice.min_stt_confidence


def _ask_again(state: ConversationState, deps: Deps, text: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Voice: ask the customer to say it again; after `repeats_before_handoff` asks, hand the call to a person."""
    policy = deps.policies.voice
    streak = state.get("unheard_streak", 0) + 1
    confidence = float((deps.heard or {}).get("confidence") or 0.0)
    event = {"rail": "voice", "action": "unheard", "reason": f"speech recognition confidence {confidence:.2f}",
             "detail": ""}
    update: dict[str, Any] = {
        "message": text,
        "unheard_streak": streak,
        "decision": {"action": "clarify", "template": "voice.repeat", "args": {}},
        "check_events": events + [event],
        "events": [dict(e, turn=state["turn"]) for e in events + [event]],
        "transcript": [_customer_turn(state, text or "[inaudible]", deps)],
    }
    # A caller's unclear answer to the rating question is not a reason to call a person: ask again (the proxy is
    # recorded when the call ends without a rating).
    if streak > policy.repeats_before_handoff and not rating.pending(state):
        update["decision"] = {
            "action": "escalate", "reason": "low_confidence", "template": None, "args": {"triggers": []},
            "evidence": f"speech not recognised clearly {streak} times in a row "
                        f"(speech recognition confidence {confidence:.2f})",
        }
    return update


def _refused(state: ConversationState, deps: Deps, verdict: Any, text: str,
             events: list[dict[str, Any]]) -> dict[str, Any]:
    """The turn of a refused or blocked message: a canned answer, or a handoff when the policy says so."""
    placeholder = f"[message not accepted: {verdict.refuse or 'blocked'}]"
    update: dict[str, Any] = {
        "message": text,
        "blocked": verdict.blocked,
        "decision": {"action": "reject", "template": verdict.refuse, "args": verdict.values},
        "check_events": events,
        "events": [dict(e, turn=state["turn"]) for e in events],
        "transcript": [_customer_turn(state, text or placeholder, deps)],
    }
    if not verdict.blocked:
        return update
    blocks = state.get("rail_blocks", 0) + 1
    update["rail_blocks"] = blocks
    limit = deps.policies.rails.input.escalate_after_blocks
    if state.get("mode") != "human" and (verdict.escalate or (limit and blocks >= limit)):
        rail = next((e for e in events if e.get("action") == "block"), {})
        why = "the policy hands this topic to a person" if verdict.escalate else f"{blocks} blocked messages"
        update["decision"] = {
            "action": "escalate", "reason": "guardrail", "template": None,
            "evidence": f"{rail.get('rail', 'rail')}: {rail.get('reason', '')} ({why})",
            "args": {"preface": verdict.refuse, "triggers": []},
        }
    return update


def _customer_turn(state: ConversationState, text: str, deps: Deps) -> dict[str, Any]:
    turn = {"role": "customer", "text": text, "ts": deps.clock(), "turn": state["turn"]}
    if deps.heard is not None:
        turn["stt_confidence"] = round(float(deps.heard.get("confidence") or 0.0), 3)
    return turn

