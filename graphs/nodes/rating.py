"""take_rating, and the CSAT question: "how would you rate this conversation, from 1 to 5?" (guardrails/modes.yaml).

The question is added to the last reply of a conversation — the AI's goodbye, or the notice that an agent resolved
it — and the next customer message is read as the answer when it is one (`bot.csat.parse_rating`: a chat button
sends the digit, a caller says the number). Anything else is handled as a normal message, and the proxy from the
sentiment trail is recorded instead, labelled `proxy`. A front end that closes without an answer records the proxy
through `Engine.end`.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from bot import csat
from graphs.context import Deps
from graphs.state import ConversationState


def question(state: ConversationState, deps: Deps, after: str) -> tuple[str, dict[str, Any] | None]:
    """(the sentence to add, the new `csat` state) when the policy asks after `after` and nobody answered yet."""
    policy = deps.mode_policy().csat
    if not policy.ask or after not in policy.ask_after or (state.get("csat") or {}).get("asked"):
        return "", None
    return deps.policies.messages.get("csat.ask"), {"asked": state.get("turn", 0), "after": after, "score": None,
                                                    "source": None}


def take_rating(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Only the first message that reaches here after the question can be its answer (a refused or unheard one
    does not count): a number typed much later is about something else."""
    deps = runtime.context
    asked = state.get("csat") or {}
    if not asked.get("asked") or asked.get("source"):
        return {}
    turn = state.get("turn", 0)
    score = csat.parse_rating(state.get("message", ""))
    if score is None:
        proxy = csat.proxy(state.get("sentiment_trail") or [], deps.mode_policy().csat.proxy_turns)
        return {"csat": dict(asked, score=proxy, source="proxy" if proxy is not None else "none", at=turn)}
    update: dict[str, Any] = {
        "csat": dict(asked, score=score, source="customer", at=turn),
        "decision": {"action": "answer", "tool": None, "args": {"score": score}, "template": "csat.thanks",
                     "reason": None, "evidence": None, "pending": None},
        "events": [{"rail": "csat", "action": "rated", "reason": "customer", "detail": str(score), "turn": turn}],
    }
    if asked.get("after") == "resolve":
        update["mode"] = "closed"  # the rating does not reopen a resolved conversation
    return update


def pending(state: ConversationState) -> bool:
    """The CSAT question was asked and nothing has answered it yet."""
    asked = state.get("csat") or {}
    return bool(asked.get("asked")) and not asked.get("source")
