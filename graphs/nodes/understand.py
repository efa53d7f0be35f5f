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
from bot.nlu.clarity import CLEAR_ABOVE, STOP_WORDS
from graphs import prompts
from graphs.context import Deps
from graphs.state import ConversationState

VOTE_BELOW = 0.6  # classifier probability under which the LLM is asked to vote
# Share of the LLM's vote in the combined score. A small model's vote is weak evidence: it can break a near tie
# (top two within 0.25) but never turns a 0.2 guess into a confident answer (0.8 * 0.2 + 0.2 = 0.36 < 0.45).
VOTE_WEIGHT = 0.2
UNCLEAR_CONFIDENCE = 0.2  # confidence of a message with no understandable content
FEEDBACK_WORDS = 8  # a "that didn't help" message this short is feedback, labelled complaint
NOT_TOPICS = {"greeting", "goodbye", "thanks", "complaint", "human_request", "out_of_scope"}
# Short follow-ups that only make sense after the previous question: "what about Canada?", "and for express?"
_FOLLOW_UP = re.compile(r"^\s*(what about|how about|and (for|the|if|what|how|with)|same for|also for|what if)\b.{0,40}$",
                        re.IGNORECASE)
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
        # optional (the classifier decides without it): one attempt, a few seconds, never a long wait on a sick LLM
        answer = deps.llm.structured(prompts.vote_messages(text, candidates), schema, max_tokens=24,  # type: ignore[union-attr]
                                     attempts=1, budget_s=5.0)
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


def _interpret(state: ConversationState, deps: Deps, text: str, analysis: Any, language: str,
               failure: bool) -> tuple[str, float, str]:
    """(intent, confidence, source): the classifier's reading, corrected by the conversation so far."""
    intent, confidence = analysis.intents[0]
    pending = state.get("pending")
    previous = _previous_topic(state)
    if pending and _answers_pending(pending, text, analysis.entities, confidence):
        return pending.get("intent", intent), 1.0, "carried"
    if failure and len(text.split()) <= FEEDBACK_WORDS and not analysis.entities.get("order_ids"):
        return "complaint", 1.0, "feedback"  # "that didn't help" is about the last answer, not a new request
    if previous and (_only_entities(text, analysis.entities) or _FOLLOW_UP.match(text)
                     or _refers_back(text, analysis.intents, previous)):
        # "it's A10001", "what about Canada?", "how long does that take?" continue the topic before them
        return previous, max(confidence, 0.9), "context"
    if language == "en" and analysis.clarity < CLEAR_ABOVE:
        return intent, min(confidence, UNCLEAR_CONFIDENCE), "unclear"  # keyboard mash or filler: no vote either
    if (deps.llm is not None and deps.llm_vote and confidence < VOTE_BELOW and deps.speaks(language)
            and state.get("mode") != "human"):  # while a person owns the conversation the bot spends no LLM time
        vote = _vote(deps, text, analysis.intents)
        if vote is not None:
            intent, confidence = combine(analysis.intents, vote)
            return intent, confidence, "classifier+llm"
    return intent, confidence, "classifier"


def _previous_topic(state: ConversationState) -> str | None:
    """The last customer intent that named a topic (not small talk, not a complaint about an answer)."""
    for intent in reversed(state.get("intents") or []):
        if intent and intent not in NOT_TOPICS:
            return intent
        if intent in ("greeting", "goodbye"):
            return None
    return None


_FRAMING = frozenset({"order", "number", "id", "email", "address", "yes", "yeah", "yep", "sure", "ok", "okay", "s",
                      "its", "mine", "here", "sorry", "oh", "right", "correct", "ah"})
_ANAPHORA = re.compile(r"\b(it|its|that|this|those|these|they|them|there)\b", re.IGNORECASE)


def _only_entities(text: str, entities: dict[str, list[str]]) -> bool:
    """An order id, email or phone with nothing else to say ("it's A10001", "yes it's order A10016", "a@b.com")."""
    found = [v for key in ("order_ids", "emails", "phones") for v in entities.get(key) or []]
    if not found:
        return False
    rest = text.lower()
    for value in found:
        rest = rest.replace(value.lower(), " ")
    words = re.findall(r"[a-z]+", re.sub(r"#?\d{4,6}", " ", rest))
    return sum(1 for w in words if w not in STOP_WORDS and w not in _FRAMING) == 0


def _refers_back(text: str, intents: list[tuple[str, float]], previous: str) -> bool:
    """A short question the classifier can't place that points back ("that", "it") at a topic it still sees."""
    top, probability = intents[0]
    if top != "out_of_scope" or probability >= 0.9 or len(text.split()) > 10 or not _ANAPHORA.search(text):
        return False
    return dict(intents).get(previous, 0.0) >= 0.1


def understand(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    text = state["message"]
    analysis = deps.nlu.analyze(text)
    policy = deps.policies.escalation
    customer = state.get("customer", {})

    language = customer.get("language") or "en"
    if analysis.language != language and analysis.language_confidence >= policy.language.min_confidence:
        language = analysis.language

    answered_before = any(t.get("role") == "bot" for t in state.get("transcript") or [])
    failure = answered_before and policy.repeated_failure.matcher.find(text) is not None
    intent, confidence, source = _interpret(state, deps, text, analysis, language, failure)
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
