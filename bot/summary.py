"""The AI's part of a handoff package: a short summary for the agent, and a reply the agent may send (assist).

Why it looks like this: the embedded model is a 0.5B one. It writes fluent text but invents order numbers, amounts,
dates and actions, and an agent who trusts an invented "refund issued" makes things worse than no summary at all.
So the model is not trusted with facts:

* it answers in JSON (one string field, length-capped by the grammar), because in free text it rambles and
  echoes the prompt;
* its text is kept only when :func:`check_against_transcript` finds nothing in it that the conversation does not
  contain — no number, order id, amount, date, e-mail, phone or placeholder absent from the transcript, facts,
  actions and evidence; no other customer's name; no "refund issued" / "cancelled" / "address updated" unless that
  tool succeeded (the output rails' `commitments` detector, extended with the third-person wording of a summary);
  a draft to the customer must also not offer refunds, discounts or credits nobody authorised;
* anything else — no LLM, an error, bad JSON, one failed check — gives the package's deterministic text (made from
  the recorded facts by `bot.handoff`), with `source: "facts"` and the reasons in `problems` for the audit.

An agent therefore always gets something true; the LLM can only make it shorter and friendlier.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model

from bot.checks import ungrounded_fact
from bot.llm import LLMClient
from bot.nlu import entities
from bot.rails import placeholders
from bot.rails.detectors import ReplyContext, commitments
from bot.rails.policy import Commitments, DoneClaim, OutputRails

log = logging.getLogger(__name__)

MAX_CHARS = 600  # longer is not a summary (and the agent's reply box is not an essay)
TURNS = 8  # transcript lines the LLM sees: prompt processing is ~110 tokens/s on the CPU
LINE_CHARS = 200  # each clipped to this
CHARS_PER_TOKEN = 3.5  # English prose with ids: how many characters fit in the token budget (conservative)

SUMMARY_TASK = (
    "You write a handoff note for the human support agent who takes over this chat. Write 2 or 3 short sentences:"
    " first what the customer wants (with the order number), then what the bot already did, then why a person is"
    " needed. Use only the information below; copy order numbers exactly; never add amounts, dates, names or"
    ' actions that are not in it. Answer as JSON: {"summary": "..."}'
)
DRAFT_TASK = (
    "Write the next chat message from the support agent to the customer: 1 to 3 friendly sentences that answer the"
    " customer's last message, using only the information below and the agent's plan. Never promise refunds,"
    " discounts, credits or dates that are not below, and never say something was done unless the bot actions say"
    ' so. Do not sign with a name. Answer as JSON: {"reply": "..."}'
)
LABELS = ("CUSTOMER:", "HANDED OFF BECAUSE:", "FACTS:", "BOT ACTIONS:", "CONVERSATION:", "AGENT'S PLAN:",
          "THE AGENT WANTS:")  # the prompt's scaffolding: a text that copies it is not a summary
LANGUAGES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
             "pt": "Portuguese", "pl": "Polish", "sv": "Swedish", "da": "Danish"}


@dataclass(frozen=True)
class Written:
    text: str
    source: str  # "llm" when the LLM's text passed every check, else "facts" (the deterministic fallback)
    problems: tuple[str, ...] = ()  # why an LLM text was refused (for the audit/debug); empty when accepted


# -- public API ---------------------------------------------------------------------------------------------------
def summarize(llm: LLMClient | None, package: dict[str, Any], policy: OutputRails | None = None, *,
              max_tokens: int = 90) -> Written:
    """1–3 sentences for the agent (who, what they want, what the bot did, why handed off), or the fact-made one."""
    fallback = str(package.get("summary") or "")
    if llm is None:
        return Written(fallback, "facts")
    messages = [{"role": "system", "content": SUMMARY_TASK}, {"role": "user", "content": _context(package)}]
    text, problems = _ask(llm, messages, "summary", max_tokens)
    if text is not None:
        problems = check_against_transcript(text, package, policy) + _leaves_out(text, package)
    return Written(fallback, "facts", problems) if problems or text is None else Written(text, "llm")


def draft_reply(llm: LLMClient | None, package: dict[str, Any], instruction: str | None = None,
                policy: OutputRails | None = None, *, max_tokens: int = 120) -> Written:
    """A reply the agent may send, steered by the agent's `instruction`; the safe template when it fails a check.

    The instruction counts as a source: an agent who says "offer a 10% discount" has authorised it.
    """
    fallback = str(package.get("suggested_reply") or "")
    if llm is None:
        return Written(fallback, "facts")
    steer = " ".join((instruction or "").split())[:300]
    messages = [{"role": "system", "content": DRAFT_TASK + _language_rule(package)},
                {"role": "user", "content": _context(package, draft=True, instruction=steer)}]
    text, problems = _ask(llm, messages, "reply", max_tokens)
    if text is not None:
        problems = _problems(text, package, _policy(policy), to_customer=True, extra=steer)
    return Written(fallback, "facts", problems) if problems or text is None else Written(text, "llm")


def check_against_transcript(text: str, package: dict[str, Any], policy: OutputRails | None = None) -> tuple[str, ...]:
    """What `text` states that the conversation does not support (empty: nothing, the text may be shown).

    `policy` is the output rails' policy (its `commitments` claims and offers); the repository's by default.
    """
    return _problems(text, package, _policy(policy), to_customer=False)


# -- the checks ---------------------------------------------------------------------------------------------------
def _problems(text: str, package: dict[str, Any], policy: OutputRails, *, to_customer: bool,
              extra: str = "") -> tuple[str, ...]:
    text = " ".join(text.split())
    if not text:
        return ("empty",)
    everything = _sources(package) + ("\n" + extra if extra else "")
    problems = [f"too long ({len(text)} characters, at most {MAX_CHARS})"] if len(text) > MAX_CHARS else []
    problems += [f"copies the prompt's layout ({label})" for label in LABELS if label in text]
    problems += _repeats(text)
    problems += _unknown_contacts(text, everything)
    problems += _unknown_placeholders(text, _transcript_text(package) + "\n" + json.dumps(package.get("facts") or {}))
    problems += _ungrounded(_without_contacts(text), everything)
    problems += _other_names(text, package, everything)
    problems += _claims(text, package, policy, to_customer, extra)
    problems += _deflects(text) if to_customer else []
    return tuple(dict.fromkeys(problems))


def _leaves_out(text: str, package: dict[str, Any]) -> tuple[str, ...]:
    """A summary without the order it is about tells the agent less than the fact-made one (which names it)."""
    orders = [str(o) for o in (package.get("facts") or {}).get("order_ids") or []]
    if not orders or set(orders) & set(entities.extract(text)["order_ids"]):
        return ()
    return (f"leaves out the order ({', '.join(orders)})",)


def _ungrounded(text: str, sources: str) -> list[str]:
    """Numbers and identifiers (order ids, amounts, dates, tracking codes) the sources lack, in any usual format."""
    source, rest = _canon_numbers(sources), _canon_numbers(text)
    aliases = {oid.lower()[1:] for oid in entities.extract(sources)["order_ids"]}  # "#10002" means A10002
    facts: list[str] = []
    for _ in range(20):  # ungrounded_fact returns the first one only: drop it and look again
        fact = ungrounded_fact(rest, source, within_words=False)
        if fact is None:
            break
        if fact not in aliases:
            facts.append(fact)
        shorter = re.sub(rf"(?<![\w.]){re.escape(fact)}(?![\w])", " ", rest, flags=re.IGNORECASE)
        if shorter == rest:
            break
        rest = shorter
    known = _numbers(source) | {_number(f) for f in facts}  # an amount is reported once
    amounts = [v for v in entities.extract(text)["amounts"] + _PERCENT.findall(text)  # small ones too: "$7", "10%"
               if _number(v) not in known]
    dates = [w for w in _CALENDAR.findall(text) if not re.search(rf"\b{re.escape(w)}\b", sources, re.IGNORECASE)]
    return [f"states '{value}', which the conversation does not contain" for value in facts + amounts + dates]


def _repeats(text: str) -> list[str]:
    """The small model's loop: the same sentence twice is not a summary."""
    sentences = [" ".join(re.findall(r"\w+", s.casefold())) for s in re.split(r"(?<=[.!?])\s+", text)]
    sentences = [s for s in sentences if len(s.split()) >= 4]
    return ["repeats a sentence"] if len(sentences) != len(set(sentences)) else []


def _unknown_contacts(text: str, sources: str) -> list[str]:
    found, known = entities.extract(text), entities.extract(sources)
    phones = {re.sub(r"\D", "", p) for p in known["phones"]}
    bad = [e for e in found["emails"] if not e.startswith("[") and e not in known["emails"]]
    bad += [p for p in found["phones"] if not p.startswith("[") and re.sub(r"\D", "", p) not in phones]
    return [f"gives the contact '{value}', which the conversation does not contain" for value in bad]


def _without_contacts(text: str) -> str:
    """`text` without its e-mails, phones and placeholders (checked on their own, not digit by digit)."""
    found = entities.extract(text)
    for value in sorted(found["emails"] + found["phones"], key=len, reverse=True):
        text = re.sub(re.escape(value), " ", text, flags=re.IGNORECASE)
    return placeholders.PLACEHOLDER.sub(" ", text)


def _unknown_placeholders(text: str, transcript: str) -> list[str]:
    return [f"placeholder {m.group(0)} is not in the transcript" for m in placeholders.PLACEHOLDER.finditer(text)
            if m.group(0) not in transcript]


def _other_names(text: str, package: dict[str, Any], sources: str) -> list[str]:
    """A name where the customer's would be ("Dear Bob", "customer Bob", "Bob asked") that is not the customer's.

    Deliberately simple: only the places where a summary or a reply names the customer are looked at, and a name
    the conversation itself contains (the customer said "I'm ordering for my wife Jane") is fine.
    """
    name = str((package.get("customer") or {}).get("name") or "")
    allowed = {w.casefold() for w in re.findall(r"\w+", name)}
    said = {w.casefold() for w in re.findall(r"\w+", sources)}
    problems = []
    for pattern in _NAMED:
        for match in pattern.finditer(text):
            words = [w for w in match.group("name").split() if w not in NOT_NAMES]
            if words and any(w.casefold() not in allowed and w.casefold() not in said for w in words):
                problems.append(f"names '{' '.join(words)}', not the customer ({name or 'no name on file'})")
    return problems


def _deflects(text: str) -> list[str]:
    """A draft the agent would never send: the small model's refusal boilerplate, or "contact support" (they are)."""
    hit = _DEFLECTION.search(text)
    return [f"deflects the customer instead of helping: '{hit.group(0)}'"] if hit else []


def _claims(text: str, package: dict[str, Any], policy: OutputRails, to_customer: bool, extra: str) -> list[str]:
    """Claimed actions need a successful tool; offers need someone to have made them (the `commitments` rail).

    Done claims may only be backed by the bot's and agents' own words and the tool results, never by the customer
    ("you said my refund was processed!"). A summary may repeat an offer anybody mentioned ("wants compensation");
    a draft to the customer may only make one the bot, an agent or the agent's instruction made, and gets the
    advice rules too.
    """
    actions = package.get("actions_taken") or []
    tools_ok = tuple(str(a.get("tool")) for a in actions if a.get("ok"))
    ours = _ours(package)
    claims, offers = _rules(policy, to_customer)
    problems = []
    finding = commitments(text, ReplyContext(facts=ours, tools_ok=tools_ok), claims)
    if finding is not None:
        problems.append(f"claims an action no tool performed: {finding.reason}: '{finding.excerpt}'")
    facts = ours + "\n" + extra if to_customer else _sources(package)
    finding = commitments(text, ReplyContext(facts=facts, tools_ok=tools_ok), offers)
    if finding is not None:
        problems.append(f"{finding.reason.replace('_', ' ')}: '{finding.excerpt}'")
    return problems


# Third-person wording of done claims ("the bot cancelled the order", "a refund was issued"): the rails' own
# phrases are the first person of a reply ("I've cancelled it"). Same tools as guardrails/output_rails.yaml.
AGENT_CLAIMS: dict[str, DoneClaim] = {
    "refund_issued (summary)": DoneClaim(tools=["start_return"], phrases=[
        (r"re:\b(refund|money|payment|reimbursement)s?\s+(was|were|has\s+been|have\s+been|got|is\s+now)\s+(already\s+)?"
         r"(issued|processed|sent|approved|credited|refunded|paid|completed|made)\b"),
        (r"re:\b(issued|processed|approved|sent|granted|gave|given)\s+(the\s+customer\s+|him\s+|her\s+|them\s+)?"
         r"(a|an|the|his|her|their)\s+(full\s+|partial\s+)?refund\b"),
        (r"re:\b(bot|assistant|agent|we|it|they|i|has|have|had|was|were|been)\s+(already\s+)?"
         r"(refunded|credited|reimbursed)\b"),
    ]),
    "return_started (summary)": DoneClaim(tools=["start_return"], phrases=[
        r"re:\breturn\s+(was|has\s+been|is\s+now)\s+(already\s+)?(started|opened|created|approved|booked|initiated)\b",
        r"re:\b(started|opened|created|approved|booked|initiated)\s+(a|an|the|his|her|their)\s+return\b",
        r"re:\b(sent|emailed)\s+(him\s+|her\s+|them\s+|the\s+customer\s+)?(a|the)\s+(prepaid\s+)?(return\s+)?label\b",
        r"re:\b(return\s+)?label\s+(was|has\s+been)\s+(sent|emailed)\b",
    ]),
    "replacement_sent (summary)": DoneClaim(tools=["start_return"], phrases=[
        r"re:\breplacement\s+(was|has\s+been|is\s+now)\s+(already\s+)?(sent|shipped|issued|arranged|ordered)\b",
        r"re:\b(sent|shipped|issued|arranged|ordered)\s+(him\s+|her\s+|them\s+)?(a|an|the)\s+replacement\b",
        r"re:\b(was|were|has\s+been|have\s+been)\s+replaced\b",
    ]),
    "order_cancelled (summary)": DoneClaim(tools=["cancel_order"], phrases=[
        r"re:\b(was|were|has\s+been|have\s+been|is\s+now|got)\s+(already\s+)?(cancell?ed|canceled)\b",
        r"re:\b(bot|assistant|agent|we|it|they|i)\s+(has\s+|have\s+|had\s+)?(already\s+)?(cancell?ed|canceled)\b",
        r"re:\b(cancell?ed|canceled)\s+(the|his|her|their|this)\s+order\b",
    ]),
    "reset_sent (summary)": DoneClaim(tools=["send_password_reset"], phrases=[
        (r"re:\b(sent|emailed|e-mailed)\s+(the\s+customer\s+|him\s+|her\s+|them\s+)?(a|an|the)\s+(new\s+)?"
         r"(password\s+)?reset\b"),
        r"re:\breset\s+(link|e-?mail|instructions)\s+(was|were|has\s+been|have\s+been)\s+(already\s+)?sent\b",
    ]),
    # "the bot already did it": whatever "it" is, something must have been done
    "something_done (summary)": DoneClaim(tools=["cancel_order", "start_return", "send_password_reset",
                                                 "update_address"], phrases=[
        (r"re:\b(bot|assistant|agent|we|it|they|i)\s+(has\s+|have\s+|had\s+)?(already\s+)?(did|done|handled|resolved"
         r"|completed|fixed|sorted)\s+(it|that|this|the\s+request)\b"),
        r"re:\b(already\s+)?(took|taken)\s+care\s+of\s+(it|that|this)\b",
        r"re:\b(request|issue|problem)\s+(was|has\s+been|is)\s+(already\s+)?(done|handled|resolved|completed|fixed)\b",
    ]),
    # A draft in the customer's language: the patterns above are English, so the past participles of the
    # languages the bot meets stand in for them (coarse: "kann nicht storniert werden" is refused too — safe side).
    "order_cancelled (other language)": DoneClaim(tools=["cancel_order"], phrases=[
        "storniert", "annulliert", "annulé", "annulée", "cancelado", "cancelada", "annullato", "annullata",
        "geannuleerd", "anulowane", "anulowano"]),
    "refund_issued (other language)": DoneClaim(tools=["start_return"], phrases=[
        "erstattet", "zurückerstattet", "rückerstattet", "remboursé", "remboursée", "reembolsado", "reembolsada",
        "rimborsato", "rimborsata", "terugbetaald", "zwrócono"]),
    "address_updated (summary)": DoneClaim(tools=["update_address"], phrases=[
        r"re:\b(updated|changed|corrected)\s+(the|his|her|their)\s+(delivery\s+|shipping\s+|postal\s+)?address\b",
        r"re:\baddress\s+(was|were|has\s+been|is\s+now)\s+(already\s+)?(updated|changed|corrected)\b",
    ]),
}

_RULES: dict[tuple[int, bool], tuple[OutputRails, OutputRails, OutputRails]] = {}


def _rules(policy: OutputRails, to_customer: bool) -> tuple[OutputRails, OutputRails]:
    """The `commitments` rail split in two: the done claims (plus :data:`AGENT_CLAIMS`), and the offers (+ advice
    for text to the customer; "asked for legal advice" is a fine summary). Built once per policy object."""
    key = (id(policy), to_customer)
    if key not in _RULES or _RULES[key][0] is not policy:
        rules = policy.commitments
        claims = Commitments(done_claims={**rules.done_claims, **AGENT_CLAIMS})
        offers = Commitments(offers=rules.offers, advice=rules.advice if to_customer else {})
        _RULES[key] = (policy, OutputRails(commitments=claims), OutputRails(commitments=offers))
    return _RULES[key][1], _RULES[key][2]


@functools.lru_cache(maxsize=1)
def _default_policy() -> OutputRails:
    from bot.config import PROJECT_ROOT
    from bot.policy import load_policies

    return load_policies(Path(PROJECT_ROOT) / "guardrails").rails.output


def _policy(policy: OutputRails | None) -> OutputRails:
    return policy if policy is not None else _default_policy()


# -- what the conversation contains -------------------------------------------------------------------------------
def _transcript_text(package: dict[str, Any]) -> str:
    return "\n".join(str(line.get("text", "")) for line in package.get("transcript") or [])


def _ours(package: dict[str, Any]) -> str:
    """What the bot, the agents and the tools said: the only words that can back a claimed action."""
    lines = [str(t.get("text", "")) for t in package.get("transcript") or [] if t.get("role") in ("bot", "agent")]
    lines += [str(a.get("result") or a.get("message") or "") for a in package.get("actions_taken") or []]
    return "\n".join(lines)


def _sources(package: dict[str, Any]) -> str:
    """Everything a summary may draw a fact from: transcript, facts, actions, evidence, the customer record."""
    customer = package.get("customer") or {}
    parts = [_transcript_text(package), json.dumps(package.get("facts") or {}, default=str),
             str(package.get("evidence") or ""), str(customer.get("name") or ""), str(customer.get("id") or "")]
    parts += [f"{a.get('tool')} {json.dumps(a.get('args') or {}, default=str)} {a.get('result') or ''}"
              for a in package.get("actions_taken") or []]
    parts += [f"{t.get('reason', '')} {t.get('evidence', '')}" for t in package.get("triggers") or []]
    return "\n".join(parts)


# -- numbers, dates, names ----------------------------------------------------------------------------------------
_DECIMAL = re.compile(r"(?<![\w.])(\d+)\.(\d{1,2})(?!\d)(?!\.\d)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_ANY_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DEFLECTION = re.compile(
    r"\b(?:can(?:no|')?t|unable\s+to|not\s+able\s+to)\s+(?:assist|help)\s+(?:you\s+)?with\s+(?:that|this|your)"
    r"|\b(?:contact|reach\s+out\s+to|call)\s+(?:our\s+|the\s+)?(?:customer\s+)?(?:support|service|help\s*desk)\b"
    r"|\bas\s+an\s+ai\b|\blanguage\s+model\b", re.IGNORECASE)
_MONTHS = "january|february|march|april|june|july|august|september|october|november|december"
_CALENDAR = re.compile(
    rf"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|{_MONTHS}|tomorrow|tonight|next\s+week"
    r"|next\s+month|this\s+week(?:end)?|(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)\.?(?=\s+\d))\b",
    re.IGNORECASE)
_WORD = r"[A-ZÀ-Þ](?:[a-zß-ÿ]+|['’][A-ZÀ-Þ][a-zß-ÿ]+)(?!['’\w])"  # "Alice", "O'Brien"; not "I'm", "We're"
_NAME = rf"(?P<name>{_WORD}(?:[ -]{_WORD})?)"
_NAMED = (
    re.compile(rf"\b(?:Hi|Hello|Hey|Dear|Thanks|Thank\s+you|Hallo|Hola|Bonjour|Ciao|Hej|Olá),?\s+{_NAME}"),
    re.compile(rf"\b(?:[Cc]ustomer|[Cc]lient|[Gg]uest)(?:\s+named|\s+called)?,?\s+{_NAME}"),
    re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Herr|Frau|Monsieur|Madame|Señora?)\.?\s+{_NAME}"),
    re.compile(rf"(?:^|[.!?]\s+){_NAME}\s+(?:\(|asked|asks|wants|wanted|says|said|reports|reported|contacted"
               r"|needs|requested|wrote|is\s+asking|has\s+asked|would\s+like)"),
)
NOT_NAMES = frozenset({
    "The", "This", "That", "These", "She", "He", "They", "It", "We", "I", "You", "Your", "Our", "His", "Her",
    "Their", "Customer", "Client", "Guest", "Bot", "Agent", "Assistant", "Support", "Team", "There", "Everyone",
    "All", "Again", "Sir", "Madam", "Order", "User", "Someone", "Nobody", "Everybody",
})


def _canon_numbers(text: str) -> str:
    """"1,299.00" → "1299", "45.50" → "45.5": one spelling per amount, on both sides of the comparison."""
    text = _THOUSANDS.sub("", text)
    return _DECIMAL.sub(lambda m: m.group(1) + ("." + m.group(2).rstrip("0") if m.group(2).rstrip("0") else ""),
                        text)


def _number(value: str) -> Decimal | None:
    try:
        return Decimal(value.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def _numbers(text: str) -> set[Decimal | None]:
    return {_number(n) for n in _ANY_NUMBER.findall(text)}


# -- asking the LLM -----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _schema(field: str, chars: int) -> type[BaseModel]:
    """{field: str} capped at `chars`: the JSON grammar closes the string before the token budget runs out."""
    return create_model(f"Handoff{field.title()}", **{field: (str, Field(max_length=chars))})


def _ask(llm: LLMClient, messages: list[dict[str, str]], field: str,
         max_tokens: int) -> tuple[str | None, tuple[str, ...]]:
    """(text, ()) from the LLM, or (None, (why,)) when there is none."""
    chars = min(MAX_CHARS, max(60, int((max_tokens - 12) * CHARS_PER_TOKEN)))
    try:
        answer = llm.structured(messages, _schema(field, chars), max_tokens=max_tokens)
    except Exception as exc:  # noqa: BLE001 - the note is optional: a handoff never fails because of it
        log.warning("handoff %s: no LLM text (%s)", field, exc)
        return None, (f"llm: {exc}",)
    raw = str(getattr(answer, field, ""))
    text = " ".join(raw.split())
    if len(raw) >= chars - 2 and not text.endswith((".", "!", "?")):  # cut at the cap: keep whole sentences
        end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        text = text[: end + 1] if end > 0 else ""
        if not text:
            return None, ("cut off at the length limit",)
    return text, ()


def _context(package: dict[str, Any], *, draft: bool = False, instruction: str = "") -> str:
    """The short prompt: who, why handed off, facts, actions, the last turns (and the agent's plan for a draft)."""
    customer = package.get("customer") or {}
    who = customer.get("name") or ("a signed-in customer" if customer.get("known") else "a guest (no account)")
    reason = str(package.get("reason") or "").replace("_", " ")
    lines = [f"CUSTOMER: {who}, {customer.get('tier', 'standard')} tier"]
    if not draft:  # a draft answers the customer; "handed off because" makes the small model refuse to help
        lines.append(f"HANDED OFF BECAUSE: {reason}: {_clip(str(package.get('evidence') or ''))}")
    facts = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                      for k, v in (package.get("facts") or {}).items() if v not in (None, "", [], {}))
    if facts:
        lines.append(f"FACTS: {_clip(facts, 300)}")
    actions = [f"{a.get('tool')} ({'ok' if a.get('ok') else 'failed'}): {_clip(str(a.get('result') or ''))}"
               for a in (package.get("actions_taken") or [])[-3:]]
    lines.append("BOT ACTIONS: " + (" | ".join(actions) if actions else "none"))
    if draft and package.get("suggested_actions"):
        lines.append("AGENT'S PLAN: " + _clip(" ".join(package["suggested_actions"]), 300))
    lines.append("CONVERSATION:")
    # The bot's own handoff notices ("I'm connecting you…") say nothing about the customer, and the small model
    # copies them into the note: they stay out.
    handed_off_at = package.get("turn") or 0
    said = [t for t in package.get("transcript") or []
            if not (t.get("role") in ("bot", "system") and (t.get("turn") or 0) >= handed_off_at)]
    lines += [f"{t.get('role')}: {_clip(str(t.get('text', '')))}" for t in said[-TURNS:]]
    if instruction:
        lines.append(f"THE AGENT WANTS: {instruction}")
    return "\n".join(lines)


def _language_rule(package: dict[str, Any]) -> str:
    code = str(package.get("language") or (package.get("customer") or {}).get("language") or "en")
    return "" if code == "en" else f" Write it in {LANGUAGES.get(code, code)} ({code}), the customer's language."


def _clip(text: str, limit: int = LINE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
