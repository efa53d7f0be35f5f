"""What each rail looks for, as plain functions over the policy: no guardrails-ai here, so each is easy to test.

A detector returns a :class:`Finding` (or None). The validators in :mod:`bot.rails.validators` wrap them for
guardrails-ai; the findings become the audit events (rail, action, reason, redacted excerpt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.nlu import entities
from bot.rails import placeholders
from bot.rails.attack_model import AttackModel
from bot.rails.normalize import views
from bot.rails.policy import InputRails, OutputRails, PiiPolicy
from bot.rails.toxicity import ProfanityModel

EXCERPT_CHARS = 80


@dataclass(frozen=True)
class Finding:
    rail: str  # injection | dangerous | toxicity | pii | leakage | commitments | competitors | tone
    reason: str  # the policy category or rule that fired
    action: str  # block | signal | fix | reask
    excerpt: str = ""  # what matched, clipped (already redacted: rails run after PII redaction)
    escalate: bool = False

    def event(self) -> dict[str, str]:
        return {"rail": self.rail, "action": self.action, "reason": self.reason, "detail": self.excerpt}


def clip(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- input


def injection(text: str, policy: InputRails, message_views: list[str] | None = None,
              model: AttackModel | None = None) -> Finding | None:
    """The injection patterns first (precise, reviewable), then the classifier for what they do not spell out."""
    message_views = message_views or views(text)
    hit = policy.injection.find(message_views)
    if hit is None:
        if model is None or not policy.classifier.enabled:
            return None
        score = model.probability(message_views)
        if score < policy.classifier.threshold:
            return None
        return Finding("injection", f"classifier ({score:.2f})", policy.injection.action, clip(text))
    category, excerpt = hit
    return Finding("injection", category, policy.injection.action, clip(excerpt),
                   escalate=category in policy.injection.escalate)


def dangerous(text: str, policy: InputRails, message_views: list[str] | None = None) -> Finding | None:
    hit = policy.dangerous.find(message_views or views(text))
    if hit is None:
        return None
    category, excerpt = hit
    return Finding("dangerous", category, policy.dangerous.action, clip(excerpt),
                   escalate=category in policy.dangerous.escalate)


def abuse(text: str, policy: InputRails, model: ProfanityModel) -> Finding | None:
    """Offensive language aimed at the bot (not "this damn lamp"): a signal for the escalation triggers."""
    rule = policy.toxicity
    insult = rule.insult.find(text)
    if insult is None:
        score = model.probability(text)
        if score < rule.threshold or rule.target.find(text) is None:
            return None
        return Finding("toxicity", f"abuse (offensive {score:.2f})", rule.action, clip(text))
    return Finding("toxicity", "abuse (insult)", rule.action, clip(insult))


# ---------------------------------------------------------------- output


@dataclass(frozen=True)
class ReplyContext:
    """What an output rail may compare a reply with."""

    facts: str = ""  # tool results and KB passages the reply was written from
    customer: str = ""  # the customer's message (redacted)
    tools_ok: tuple[str, ...] = ()  # tools that succeeded in this turn
    prompts: tuple[str, ...] = field(default=())  # the prompts the LLM was given (leakage)


_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def pii_out(text: str, ctx: ReplyContext, policy: PiiPolicy) -> tuple[str, list[Finding]]:
    """Redact card numbers, other people's contact details and placeholders; returns the fixed text and findings."""
    found: list[Finding] = []
    allowed = {c.lower() for c in policy.allowed_contacts}
    facts = ctx.facts.lower()

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if not entities.luhn_ok(digits):
            return m.group(0)
        found.append(Finding("pii", "card_number", "fix", f"card ending {digits[-4:]}"))
        return "[card number removed]"

    if placeholders.PLACEHOLDER.search(text):
        phrases = {k.placeholder: k.spoken_as for k in policy.kinds.values()}
        found.append(Finding("pii", "placeholder", "fix", ", ".join(p for p, _ in placeholders.kinds_in(text))))
        text = placeholders.spoken(text, phrases)
    text = _CARD.sub(card, text)
    extracted = entities.extract(text)
    for email in extracted["emails"]:
        if email in allowed or email in facts:
            continue
        found.append(Finding("pii", "email_address", "fix", "an e-mail address"))
        text = re.sub(re.escape(email), "[email removed]", text, flags=re.IGNORECASE)
    for phone in extracted["phones"]:
        if phone.lower() in allowed or phone.lower() in facts:
            continue
        found.append(Finding("pii", "phone_number", "fix", "a phone number"))
        text = text.replace(phone, "[phone removed]")
    return text, found


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def leakage(text: str, ctx: ReplyContext, policy: OutputRails, prompt_shingles: set[tuple[str, ...]]) -> Finding | None:
    hit = policy.leakage.matcher.find(text)
    if hit:
        return Finding("leakage", "prompt_marker", "reask", clip(hit))
    overlap = _shingles(text, policy.leakage.prompt_overlap_words) & prompt_shingles
    if overlap:
        return Finding("leakage", "prompt_text", "reask", clip(" ".join(next(iter(overlap)))))
    return None


def commitments(text: str, ctx: ReplyContext, policy: OutputRails) -> Finding | None:
    rules = policy.commitments
    for name, claim in rules.done_claims.items():
        hit = claim.matcher.find(text)
        # True when the tool did it, or when the facts say it in these words (a policy passage describing refunds).
        if hit and not set(claim.tools) & set(ctx.tools_ok) and claim.matcher.find(ctx.facts) is None:
            return Finding("commitments", f"{name} (no {'/'.join(claim.tools)} succeeded)", "reask", clip(hit))
    hit = rules.offer.find(text)
    if hit and hit.lower() not in ctx.facts.lower():
        return Finding("commitments", "unauthorised_offer", "reask", clip(hit))
    for kind, matcher in rules.advice_matchers.items():
        hit = matcher.find(text)
        if hit:
            return Finding("commitments", f"{kind}_advice", "reask", clip(hit))
    return None


def competitors(text: str, ctx: ReplyContext, policy: OutputRails) -> Finding | None:
    rule = policy.competitors
    name = rule.name.find(text)
    if name is None:
        return None
    if rule.recommending.find(text) or rule.name.find(ctx.customer) is None:
        return Finding("competitors", "competitor_mention", "reask", clip(name))
    return None


def tone(text: str, policy: OutputRails, model: ProfanityModel) -> Finding | None:
    hit = policy.tone.insult.find(text)
    if hit:
        return Finding("tone", "insult", "reask", clip(hit))
    score = model.probability(text)
    if score >= policy.tone.threshold:
        return Finding("tone", f"offensive ({score:.2f})", "reask", clip(text))
    return None
