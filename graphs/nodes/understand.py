"""understand: what the customer wants, how they feel, what they mentioned, and in which language.

The local classifier decides on its own when it is sure. When it is not (top probability under the vote band),
the LLM votes among the classifier's best candidates through a JSON-schema answer, and the two are combined; the
LLM never picks an intent the classifier ruled out, which is what keeps a small model from labelling the weather as
an order question. A short answer to a question the bot just asked ("A10007", "yes") keeps that question's intent.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.runtime import Runtime
from pydantic import create_model

from bot.llm import LLMError
from graphs import prompts
from graphs.context import Deps
from graphs.state import ConversationState

VOTE_BELOW = 0.6  # classifier probability under which the LLM is asked to vote
VOTE_WEIGHT = 0.35  # share of the LLM's vote in the combined score
VOTE_CANDIDATES = 3

_YES = re.compile(
    r"^(yes|yeah|yep|yup|sure|ok|okay|please do|go ahead|do it|confirm(ed)?|correct|right|that's right|"
    r"yes please|please|ja|oui|s[ií]|sim)\b",
    re.IGNORECASE,
)
_NO = re.compile(
    r"^(no|nope|nah|don't|do not|never ?mind|keep it|leave it|stop|nein|non)\b", re.IGNORECASE
)


def yes_no(text: str) -> str | None:
    text = text.strip().lower()
    if _NO.match(text):
        return "no"
    if _YES.match(text):
        return "yes"
    return None


def _answers_pending(pending: dict[str, Any], text: str, entities: dict[str, list[str]], top: float) -> bool:
    kind = pending.get("kind")
    short = len(text.split()) <= 8
    if kind == "confirm":
        return yes_no(text) is not None
    if kind == "slot":
        slot = pending.get("slot")
        if slot == "order_id":
            return bool(entities.get("order_ids"))
        if slot == "email":
            return bool(entities.get("emails"))
        if slot == "address":
            return top < 0.7 or bool(re.search(r"\d", text))
    return short and top < 0.5


def _vote(deps: Deps, text: str, intents: list[tuple[str, float]]) -> str | None:
    candidates = [name for name, _ in intents[:VOTE_CANDIDATES]]
    if "out_of_scope" not in candidates:
        candidates.append("out_of_scope")
    schema = create_model("IntentVote", intent=(Literal[tuple(candidates)], ...))  # type: ignore[valid-type]
    try:
        answer = deps.llm.structured(prompts.vote_messages(text, candidates), schema, max_tokens=24)  # type: ignore[union-attr]
    except LLMError:
        return None
    return answer.intent  # type: ignore[attr-defined]


def combine(intents: list[tuple[str, float]], vote: str | None) -> tuple[str, float]:
    """Classifier probabilities blended with the LLM's vote; (intent, confidence)."""
    if vote is None:
        return intents[0]
    scores = {name: (1 - VOTE_WEIGHT) * p for name, p in intents}
    scores[vote] = scores.get(vote, 0.0) + VOTE_WEIGHT
    best = max(scores, key=scores.__getitem__)
    return best, round(scores[best], 4)


def understand(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    text = state["message"]
    analysis = deps.nlu.analyze(text)
    policy = deps.policies.escalation
    customer = state.get("customer", {})

    language = customer.get("language") or "en"
    if analysis.language != language and analysis.language_confidence >= policy.language.min_confidence:
        language = analysis.language

    intent, confidence = analysis.intents[0]
    source = "classifier"
    pending = state.get("pending")
    if pending and _answers_pending(pending, text, analysis.entities, confidence):
        intent, confidence, source = pending.get("intent", intent), 1.0, "carried"
    elif (deps.llm is not None and deps.llm_vote and confidence < VOTE_BELOW and deps.speaks(language)
          and state.get("mode") != "human"):  # while a person owns the conversation the bot spends no LLM time
        vote = _vote(deps, text, analysis.intents)
        if vote is not None:
            intent, confidence = combine(analysis.intents, vote)
            source = "classifier+llm"

    failure = policy.repeated_failure.matcher.find(text) is not None
    understanding = {
        "intent": intent,
        "confidence": round(float(confidence), 4),
        "out_of_scope": intent == "out_of_scope",
        "sentiment": round(float(analysis.sentiment), 4),
        "entities": analysis.entities,
        "language": language,
        "language_confidence": round(float(analysis.language_confidence), 4),
        "failure_signal": failure,
        "top": [(name, round(float(p), 4)) for name, p in analysis.intents[:3]],
        "source": source,
    }
    facts = dict(state.get("facts") or {})
    for key in ("order_ids", "emails", "phones", "amounts"):
        found = analysis.entities.get(key) or []
        if found:
            facts[key] = list(dict.fromkeys([*facts.get(key, []), *found]))
    if analysis.entities.get("order_ids"):
        facts["last_order_id"] = analysis.entities["order_ids"][-1]
    updated_customer = dict(customer, language=language) if language != customer.get("language") else customer
    return {
        "understanding": understanding,
        "facts": facts,
        "customer": updated_customer,
        "sentiment_trail": [understanding["sentiment"]],
    }
