"""answer: turn the decision into the words the customer will read.

Canned sentences (clarifying questions, confirmations, the handoff notice, refusals) come from
guardrails/messages.yaml and are emitted by `output_checks`. Everything else is written by the LLM from facts only
(tool results, retrieved policy passages), streamed sentence by sentence through the output checks; when a sentence
fails a check, the customer gets the facts themselves instead — never an invented detail, never a stack trace. When
the LLM cannot write the reply even after its retries, the customer gets what was already shown, a short apology and
the handoff notice, and a person (policy `system_error`) in the same turn.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from langgraph.runtime import Runtime

from bot import tools
from bot.checks import Grounding, OutputVerdict
from bot.handoff import skill, topic
from bot.llm import LLMError
from bot.store.kb import excerpt
from bot.streaming import SentenceBuffer
from graphs import prompts
from graphs.context import Deps
from graphs.nodes.decide import (
    SMALL_TALK,  # their fallbacks are in guardrails/messages.yaml under smalltalk.*
)
from graphs.nodes.deliver import tools_ok
from graphs.state import ConversationState

log = logging.getLogger(__name__)

KB_PASSAGES = 2
KB_EXCERPT_CHARS = 320
MAX_TOKENS = 160
LEAD_MAX_TOKENS = 60  # after a facts lead the LLM adds one sentence

TASKS = {
    "kb": "answer the customer in one or two sentences using only the FACTS",
    "contact": "say how to reach a person, using only the FACTS",
    # Measured on the 0.5B model: this wording never asserted a product detail the facts lack (others did).
    "product": "reply in one sentence; quote the FACTS exactly; if they do not contain the answer, reply: "
    "I don't have that detail.",
}


def _first_sentences(text: str, n: int = 2) -> str:
    text = re.sub(r"^#+\s*", "", text.strip(), flags=re.MULTILINE)
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(parts[:n])


def _wait_sentence(state: ConversationState, deps: Deps) -> str:
    handoff = state.get("handoff") or {}
    reason = handoff.get("reason") or (state.get("decision") or {}).get("reason") or ""
    language = handoff.get("language") or (state.get("customer") or {}).get("language", "en")
    # the skill and language let the estimate count only the agents who can take this conversation (presence)
    wanted = skill(reason, topic(dict(state)), deps.policies.handoff)
    minutes = deps.wait_minutes({"conversation_id": state["conversation_id"], "priority": handoff.get("priority"),
                                 "skill": wanted, "language": language})
    if minutes is None:
        return deps.policies.messages.get("handoff.wait_unknown")
    rounded = max(1, round(minutes))
    return deps.policies.messages.get("handoff.wait_known", minutes=f"{rounded} minute{'s' if rounded > 1 else ''}")


def _template(state: ConversationState, deps: Deps) -> str | None:
    decision = state.get("decision") or {}
    messages = deps.policies.messages
    if decision.get("action") == "escalate":
        language = state.get("customer", {}).get("language", "en")
        key = "handoff.notice" if deps.speaks(language) else "handoff.notice_language"
        key = (decision.get("args") or {}).get("notice") or key  # the modes' own notices (guardrails/modes.yaml)
        notice = messages.get(key, wait=_wait_sentence(state, deps))
        preface = (decision.get("args") or {}).get("preface")  # a rail's refusal said before the handoff notice
        return f"{messages.get(preface)} {notice}" if preface else notice
    key = decision.get("template")
    if key:
        values = dict(decision.get("args") or {})
        if key.startswith("handoff.hold"):
            values["wait"] = _wait_sentence(state, deps)
        return messages.get(key, **values)
    return None


@dataclass
class ReplyPlan:
    """What the LLM is given for one reply, and what is said without it."""

    facts: list[str] = field(default_factory=list)
    task: str | None = None  # None with no facts: small talk, the shortest prompt
    lead: str = ""  # verified facts said at once, before the LLM writes (tool results)
    fallback: str = ""  # what to say when the LLM fails or writes something unsafe
    passages: list[dict[str, Any]] = field(default_factory=list)
    llm: bool = True  # False: the lead is the whole reply


def _plan(state: ConversationState, deps: Deps) -> ReplyPlan | str:
    """The reply plan, or a canned sentence when there is nothing to answer from."""
    decision = state["decision"]
    if decision["action"] == "act":
        facts = [r["message"] for r in state.get("tool_results", [])]
        if decision.get("tool") != "search_products":
            # A tool's result is already the answer, in words the store wrote: said as it is, with no LLM call.
            # (A 0.5B model paraphrasing it can only add latency and mistakes; the facts stay exactly right.)
            return ReplyPlan(lead=" ".join(facts), llm=False)
        products = state["tool_results"][-1].get("data", {}).get("products", [])
        if not products:
            return ReplyPlan(lead=" ".join(facts), llm=False)
        lead = tools.product_line(products[0])
        return ReplyPlan(facts=[lead], task=TASKS["product"], lead=lead)
    kind = decision.get("args", {}).get("task", "kb")
    if kind in SMALL_TALK:
        if state.get("channel") == "voice":  # on the phone a greeting must come at once: the store's own words
            return deps.policies.messages.get(f"smalltalk.{kind}")
        return ReplyPlan(fallback=deps.policies.messages.get(f"smalltalk.{kind}"))
    found = _retrieve(deps, decision.get("args", {}).get("query") or state["message"])
    if not found:
        return deps.policies.messages.get("kb.no_answer")
    return ReplyPlan(
        facts=[found["excerpt"]],
        task=TASKS.get(kind, TASKS["kb"]),
        fallback=_first_sentences(found["excerpt"].split(": ", 1)[-1]),
        passages=found["passages"],
    )


def _in_language(plan: ReplyPlan | str, language: str) -> ReplyPlan:
    """The same reply for a customer writing another language the LLM speaks: the LLM writes all of it.

    Store facts and canned sentences are English; the LLM renders them in the customer's language, still only from
    those facts and still through every output check. If it fails, the English original is the fallback.
    """
    name = prompts.language_name(language)
    if isinstance(plan, str):
        return ReplyPlan(facts=[plan], task=f"say this to the customer in {name}", fallback=plan)
    english = plan.lead or plan.fallback
    task = (plan.task or "reply briefly and politely") + f"; reply in {name}"
    if plan.lead:
        task = f"tell the customer these FACTS in {name}"
    return ReplyPlan(facts=plan.facts or ([plan.lead] if plan.lead else []), task=task, fallback=english,
                     passages=plan.passages)


def answer(state: ConversationState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    plan: ReplyPlan | str | None = _template(state, deps)
    if plan is None:
        plan = _plan(state, deps)
    decision = state.get("decision") or {}
    # After a reply the rails refused or the LLM could not finish (and the policy escalated), the notice follows
    # what the customer already saw.
    said = state.get("reply", "") if (decision.get("args") or {}).get("after_reply") else ""
    language = state.get("customer", {}).get("language", "en")
    llm_down = decision.get("reason") == "system_error"  # the LLM just failed: the notice is said without it
    if language != "en" and deps.llm is not None and deps.speaks(language) and not llm_down:
        plan = _in_language(plan, language)
    if isinstance(plan, str):
        return {"reply": f"{said} {plan}".strip(), "reply_source": "template", "streamed": said}

    grounding = Grounding((*plan.facts, plan.lead, state["message"]), customer=state["message"],
                          tools_ok=tools_ok(state))
    emitted: list[str] = [said + " "] if said.strip() else []  # shown already, in an earlier pass of this turn
    events: list[dict[str, Any]] = []
    if plan.lead:
        # Tool results are the answer: the customer reads them at once, the LLM only adds a next step.
        failed, checked, found = _check(plan.lead, grounding, deps)
        events += found
        emitted.append((checked if failed is None else deps.policies.messages.get("fallback.generic")) + " ")
        deps.emit(emitted[-1])
    if not plan.llm:
        return _finish(deps, state, plan, emitted, events, source="facts", fallback=False)
    if deps.llm is None:
        return _finish(deps, state, plan, emitted, events, source="facts", fallback=not plan.lead)

    history = list(state.get("llm_history") or [])
    task = plan.task
    if state.get("channel") == "voice":  # heard, not read: short, no lists or links
        task = f"{task or 'reply'} {prompts.VOICE_TASK}"
    messages, user_message = prompts.answer_messages(
        deps.policies.messages.store_name, history, state["message"], plan.facts, task
    )
    raw: list[str] = []
    try:
        failed = _generate(deps, messages, grounding, plan, emitted, events, raw)
        for _ in range(deps.policies.rails.output.reask if failed else 0):
            # Ask once more, saying why; sentences already sent stay sent, the refused one never was.
            events.append({"rail": failed.rail or "output", "action": "reask", "reason": failed.reason or "",
                           "detail": ""})
            raw = []
            failed = _generate(deps, prompts.reask_messages(messages, failed.reason or "it broke a rule"),
                               grounding, plan, emitted, events, raw)
            if failed is None:
                break
        violated = failed is not None
    except LLMError as exc:
        return _llm_failed(deps, state, plan, emitted, events, exc)
    result = _finish(deps, state, plan, emitted, events, source="llm+facts" if violated or plan.lead else "llm",
                     fallback=violated and not plan.lead)
    if failed is not None and failed.escalate and state.get("mode") != "human":
        events.append({"rail": failed.rail or "output", "action": "escalate", "reason": failed.reason or "",
                       "detail": ""})
        result["decision"] = {"action": "escalate", "reason": "guardrail", "template": None,
                              "evidence": f"reply refused twice by the {failed.rail} rail: {failed.reason}",
                              "args": {"after_reply": True, "triggers": []}}
        result["events"] = [dict(e, turn=state["turn"]) for e in events]
    # The generated text goes into the history as the server's cache holds it, so that the next prompt extends
    # this one exactly; a reply the checks replaced is recorded as said.
    generated = "".join(raw)
    said = generated if not violated and generated.strip() else result["reply"]
    result["llm_history"] = prompts.trim_history(history + [user_message, {"role": "assistant", "content": said}])
    result["llm_failures"] = 0
    return result


def _llm_failed(deps: Deps, state: ConversationState, plan: ReplyPlan, emitted: list[str],
                events: list[dict[str, Any]], exc: LLMError) -> dict[str, Any]:
    """The LLM could not write this reply, even after its retries (`bot/llm/client.py`).

    Below the policy's `system_error.after_llm_failures` the customer gets the facts without the LLM. At it, the
    reply so far is exactly what the customer saw (whole sentences that passed the checks; a cut sentence never
    went out), and the decision becomes a handoff: `output_checks` routes to `escalate`, and the second pass of this
    node adds the apology and the handoff notice after it, through the output rails, in this same turn.
    """
    failures = state.get("llm_failures", 0) + 1
    rule = deps.policies.escalation.system_error
    shown = "".join(emitted).strip()
    evidence = f"the LLM failed to write the reply: {exc.evidence}"
    if shown:
        sentences = len(re.findall(r"[.!?](?:\s|$)", shown)) or 1
        evidence += f"; the customer had seen {sentences} sentence{'s' if sentences > 1 else ''} of it"
    handoff = rule.enabled and failures >= rule.after_llm_failures and state.get("mode") != "human"
    log.warning("answer: LLM failed (%s, %d in a row); %s", exc.kind, failures,
                "handing off" if handoff else "replying from facts")
    events.append({"rail": "llm", "action": "handoff" if handoff else "fallback", "reason": exc.kind,
                   "detail": evidence})
    if not handoff:
        result = _finish(deps, state, plan, emitted, events, source="facts", fallback=not plan.lead)
        result["llm_failures"] = failures
        return result
    return {
        "reply": shown,
        "reply_source": "llm" if shown else "template",
        "streamed": shown,
        "check_events": events,
        "events": [dict(e, turn=state["turn"]) for e in events],
        "context": plan.passages,
        "llm_failures": failures,
        "decision": {"action": "escalate", "reason": "system_error", "template": None, "evidence": evidence,
                     "args": {"after_reply": True, "triggers": [],
                              "preface": "fallback.llm_cut" if shown else "fallback.llm_failed"}},
    }


def _generate(deps: Deps, messages: list[dict[str, str]], grounding: Grounding, plan: ReplyPlan,
              emitted: list[str], events: list[dict[str, Any]], raw: list[str]) -> OutputVerdict | None:
    """Stream the LLM's reply sentence by sentence through the output checks; the failed verdict stops it."""
    buffer = SentenceBuffer()
    failure: list[OutputVerdict] = []

    def release(sentence: str) -> bool:
        sentence = _tidy(sentence)
        if not sentence.strip():
            return True
        failed, checked, found = _check(sentence, grounding, deps)
        events.extend(found)
        if failed is not None:
            failure.append(failed)
            return False
        if plan.lead and _repeats(checked, plan.lead):
            return True  # the facts were said already; a paraphrase adds nothing
        if checked.strip() in (e.strip() for e in emitted):
            return True  # a re-asked reply repeating a sentence already sent
        emitted.append(checked)
        deps.emit(checked)
        return True

    for delta in deps.llm.stream(messages, max_tokens=MAX_TOKENS if not plan.lead else LEAD_MAX_TOKENS):  # type: ignore[union-attr]
        raw.append(delta)
        for sentence in buffer.feed(delta):
            if not release(sentence):
                return failure[0]
    rest = buffer.flush()
    if rest.strip() and not release(rest):
        return failure[0]
    return None


_WORD = re.compile(r"[a-z0-9]+")
# Small models echo the prompt's scaffolding ("Fact 2:", "Answer:", "**"); none of it is for the customer.
_SCAFFOLD = re.compile(r"^\s*(?:[-*•]\s+|(?:facts?|answer|assistant|reply|response|task)\s*\d*\s*:\s*)+", re.IGNORECASE)


def _tidy(sentence: str) -> str:
    trailing = sentence[len(sentence.rstrip()):]
    text = _SCAFFOLD.sub("", sentence.strip()).replace("**", "").replace("__", "")
    return text + trailing if text else ""


def _repeats(sentence: str, said: str, share: float = 0.6) -> bool:
    words = set(_WORD.findall(sentence.lower()))
    if not words:
        return True
    return len(words & set(_WORD.findall(said.lower()))) / len(words) >= share


def _finish(deps: Deps, state: ConversationState, plan: ReplyPlan, emitted: list[str],
            events: list[dict[str, Any]], source: str, fallback: bool) -> dict[str, Any]:
    """Join what was said; when the LLM said nothing usable, add the plan's fallback (the facts themselves)."""
    text = "".join(emitted).strip()
    streamed = text
    if fallback or not text:
        tail = plan.fallback or plan.lead
        if tail and tail not in text:
            unsaid = [s for s in re.split(r"(?<=[.!?])\s+", tail) if s and s not in text]  # no sentence twice
            text = f"{text} {' '.join(unsaid)}".strip()
    return {
        "reply": text or deps.policies.messages.get("fallback.generic"),
        "reply_source": source,
        "streamed": streamed,
        "check_events": events,
        "events": [dict(e, turn=state["turn"]) for e in events],
        "context": plan.passages,
    }


def _check(sentence: str, grounding: Grounding, deps: Deps) -> tuple[OutputVerdict | None, str, list[dict[str, Any]]]:
    """(the verdict that refused the sentence or None, the sentence as fixed by the checks, their audit events)."""
    events: list[dict[str, Any]] = []
    for check in deps.output_checks:
        verdict = check.check(sentence, grounding)
        events += verdict.events
        if not verdict.ok:
            return verdict, sentence, events
        sentence = verdict.text
    return None, sentence, events


def _retrieve(deps: Deps, query: str, k: int = KB_PASSAGES) -> dict[str, Any] | None:
    """The best policy sentences for `query`, or None when nothing in the KB scores above its threshold."""
    minimum = getattr(deps.kb, "min_score", 0.15)
    hits = [p for p in deps.kb.search(query, k=k) if p.score >= minimum]
    if not hits:
        return None
    return {
        "excerpt": excerpt(hits, query, max_chars=KB_EXCERPT_CHARS),
        "passages": [{"title": p.title, "source": p.source, "score": round(p.score, 3)} for p in hits],
    }
