"""answer: turn the decision into the words the customer will read.

Canned sentences (clarifying questions, confirmations, the handoff notice, refusals) come from
guardrails/messages.yaml and are emitted by `output_checks`. Everything else is written by the LLM from facts only
(tool results, retrieved policy passages), streamed sentence by sentence through the output checks; when a sentence
fails a check or the LLM fails, the customer gets the facts themselves instead — never an invented detail, never a
stack trace.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from langgraph.runtime import Runtime

from bot.checks import Grounding
from bot.llm import LLMError
from bot.streaming import SentenceBuffer
from graphs import prompts
from graphs.context import Deps
from graphs.state import ConversationState

log = logging.getLogger(__name__)

KB_PASSAGES = 2
KB_PASSAGE_CHARS = 700
MAX_TOKENS = 160

TASKS = {
    "act": "Tell the customer the result in the FACTS, including the important details.",
    "kb": "Answer the customer's question using only the FACTS.",
    "contact": "Tell the customer how to reach a person, using only the FACTS.",
    "greeting": "Greet the customer briefly and ask how you can help.",
    "thanks": "Reply briefly to the customer's thanks and ask if there is anything else.",
    "goodbye": "Say goodbye briefly and politely.",
    "product": "Answer the customer's product question using only the FACTS.",
}
SMALL_TALK_FALLBACK = {
    "greeting": "Hello! How can I help you today?",
    "thanks": "You're welcome! Is there anything else I can help with?",
    "goodbye": "Thanks for contacting us. Goodbye!",
}


def _first_sentences(text: str, n: int = 2) -> str:
    text = re.sub(r"^#+\s*", "", text.strip(), flags=re.MULTILINE)
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(parts[:n])


def _wait_sentence(deps: Deps) -> str:
    minutes = deps.wait_minutes()
    if minutes is None:
        return deps.policies.messages.get("handoff.wait_unknown")
    return deps.policies.messages.get("handoff.wait_known", minutes=max(1, round(minutes)))


def _template(state: ConversationState, deps: Deps) -> str | None:
    decision = state.get("decision") or {}
    messages = deps.policies.messages
    if decision.get("action") == "escalate":
        language = state.get("customer", {}).get("language", "en")
        key = "handoff.notice" if deps.speaks(language) else "handoff.notice_language"
        return messages.get(key, wait=_wait_sentence(deps))
    key = decision.get("template")
    if key:
        return messages.get(key, **(decision.get("args") or {}))
    return None


def answer(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    canned = _template(state, deps)
    if canned is not None:
        return {"reply": canned, "reply_source": "template"}

    decision = state["decision"]
    facts: list[str] = []
    fallback = ""
    passages: list[dict[str, str]] = []
    if decision["action"] == "act":
        facts = [r["message"] for r in state.get("tool_results", [])]
        task = TASKS["product"] if decision.get("tool") == "search_products" else TASKS["act"]
        fallback = " ".join(facts)
        if decision.get("tool") == "search_products":
            passages = _retrieve(deps, state["message"])[:1]
            facts += [p["text"] for p in passages]
    else:
        kind = decision.get("args", {}).get("task", "kb")
        task = TASKS.get(kind, TASKS["kb"])
        if kind in SMALL_TALK_FALLBACK:
            fallback = SMALL_TALK_FALLBACK[kind]
        else:
            passages = _retrieve(deps, decision.get("args", {}).get("query") or state["message"])
            if not passages:
                return {"reply": deps.policies.messages.get("kb.no_answer"), "reply_source": "template"}
            facts = [p["text"] for p in passages]
            fallback = _first_sentences(passages[0]["text"])

    grounding = Grounding(tuple(facts) + (state["message"],))
    if deps.llm is None:
        return _fallback(fallback, deps, passages, "no LLM configured")
    history = list(state.get("llm_history") or [])
    messages, user_message = prompts.answer_messages(
        deps.policies.messages.store_name, history, state["message"], facts, task
    )
    writer = runtime.stream_writer
    buffer = SentenceBuffer()
    emitted: list[str] = []
    events: list[dict[str, Any]] = []
    violated = False
    try:
        for delta in deps.llm.stream(messages, max_tokens=MAX_TOKENS):
            for sentence in buffer.feed(delta):
                ok, checked, found = _check(sentence, grounding, deps)
                events += found
                if not ok:
                    violated = True
                    break
                emitted.append(checked)
                writer({"type": "text", "text": checked})
            if violated:
                break
        if not violated:
            rest = buffer.flush()
            if rest.strip():
                ok, checked, found = _check(rest, grounding, deps)
                events += found
                if ok:
                    emitted.append(checked)
                    writer({"type": "text", "text": checked})
                else:
                    violated = True
    except LLMError as exc:
        log.warning("answer: LLM failed (%s); replying from facts", exc.kind)
        result = _fallback(fallback, deps, passages, exc.kind, already="".join(emitted))
        result["streamed"] = "".join(emitted)
        result["llm_failures"] = state.get("llm_failures", 0) + 1
        return result

    text = "".join(emitted).strip()
    if violated or not text:
        # The facts themselves are always safe to say; add them after whatever already passed.
        tail = fallback or deps.policies.messages.get("fallback.generic")
        if tail not in text:
            writer({"type": "text", "text": (" " if text else "") + tail})
            text = f"{text} {tail}".strip()
    assistant = {"role": "assistant", "content": text}
    return {
        "reply": text,
        "reply_source": "llm" if not violated else "llm+facts",
        "check_events": events,
        "events": [dict(e, turn=state["turn"]) for e in events],
        "llm_history": prompts.trim_history(history + [user_message, assistant]),
        "llm_failures": 0,
        "context": passages,
        "streamed": text,
    }


def _check(sentence: str, grounding: Grounding, deps: Deps) -> tuple[bool, str, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    for check in deps.output_checks:
        verdict = check.check(sentence, grounding)
        events += verdict.events
        if not verdict.ok:
            return False, sentence, events
        sentence = verdict.text
    return True, sentence, events


def _retrieve(deps: Deps, query: str) -> list[dict[str, str]]:
    minimum = getattr(deps.kb, "min_score", 0.1)
    hits = [p for p in deps.kb.search(query, k=KB_PASSAGES) if p.score >= minimum]
    return [
        {"title": p.title, "text": f"{p.title}: {p.text}"[:KB_PASSAGE_CHARS], "source": p.source, "score": round(p.score, 3)}
        for p in hits
    ]


def _fallback(fallback: str, deps: Deps, passages: list, cause: str, already: str = "") -> dict[str, Any]:
    messages = deps.policies.messages
    text = fallback or messages.get("fallback.llm_unavailable", detail="")
    if already and text not in already:
        text = f"{already.strip()} {text}"
    return {
        "reply": text,
        "reply_source": "facts",
        "events": [{"rail": "llm", "action": "fallback", "reason": cause, "detail": ""}],
        "context": passages,
    }
