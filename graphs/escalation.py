"""The six escalation triggers as one pure function: conversation facts + policy in, fired triggers out.

Pure so that each trigger is tested on its own with no LLM, store or graph, and so that QA can replay recorded
conversations against a changed policy. Every trigger that fires comes back with evidence (the words or numbers that
made it fire), sorted by the policy's precedence; the first is the handoff reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.policy import EscalationPolicy


@dataclass(frozen=True)
class Trigger:
    reason: str  # a handoff reason of CONTRACTS §3
    evidence: str


@dataclass(frozen=True)
class Signals:
    """What the triggers look at for one customer message."""

    text: str
    intent: str
    confidence: float
    sentiment: float
    sentiment_trail: tuple[float, ...]  # earlier customer turns, oldest first (this one excluded)
    failures: int  # "didn't help" count before this message
    failure_signal: bool  # this message says the last answer did not help
    low_confidence_streak: int  # uncertain messages in a row before this one
    tier: str
    # An agent returned the conversation to the AI: the VIP rule stays quiet (they chose AI service), and
    # "that didn't help" hands off at the first time (the AI already failed this customer once).
    handed_back: bool = False
    abusive: bool = False


def customer_request(s: Signals, policy: EscalationPolicy) -> Trigger | None:
    rule = policy.customer_request
    if not rule.enabled:
        return None
    if s.intent == "human_request":
        return Trigger("customer_request", f'asked for a person: "{_clip(s.text)}"')
    hit = rule.anywhere.find(s.text)
    if not hit and len(s.text.split()) <= rule.short_message_words:
        hit = rule.in_short_message.find(s.text)
    return Trigger("customer_request", f'asked for a person: "{hit}"') if hit else None


def high_stakes(s: Signals, policy: EscalationPolicy) -> Trigger | None:
    if not policy.high_stakes.enabled:
        return None
    found = policy.high_stakes.find(s.text)
    if not found:
        return None
    topic, excerpt = found
    return Trigger("high_stakes", f'{topic.replace("_", " ")}: "{excerpt}"')


def vip_customer(s: Signals, policy: EscalationPolicy) -> Trigger | None:
    rule = policy.vip_customer
    if rule.enabled and s.tier in rule.tiers and not s.handed_back:
        return Trigger("vip_customer", f"customer tier {s.tier}: a person serves this customer")
    return None


def effective_sentiment(s: Signals, policy: EscalationPolicy) -> float:
    """This message's sentiment, pulled down to the abuse floor when it insults the bot."""
    rule = policy.negative_sentiment
    return min(s.sentiment, rule.abuse_floor) if s.abusive else s.sentiment


def negative_sentiment(s: Signals, policy: EscalationPolicy) -> Trigger | None:
    rule = policy.negative_sentiment
    if not rule.enabled:
        return None
    score = effective_sentiment(s, policy)
    if score <= rule.single_turn_threshold:
        return Trigger("negative_sentiment", f"very negative message (sentiment {score:+.2f})")
    window = (s.sentiment_trail + (score,))[-rule.rolling_turns :]
    if len(window) >= rule.rolling_turns:
        mean = sum(window) / len(window)
        if mean <= rule.rolling_threshold:
            return Trigger(
                "negative_sentiment", f"sustained frustration (mean sentiment {mean:+.2f} over {len(window)} messages)"
            )
    return None


def repeated_failure(s: Signals, policy: EscalationPolicy) -> Trigger | None:
    rule = policy.repeated_failure
    if not rule.enabled or not s.failure_signal:
        return None
    count = s.failures + 1
    if count >= rule.max_failures or s.handed_back:  # after a hand-back: no second chance, straight to a person
        return Trigger("repeated_failure", f'answers did not help {count} times (last: "{_clip(s.text)}")')
    return None


def low_confidence(s: Signals, policy: EscalationPolicy) -> Trigger | None:
    rule = policy.low_confidence
    if not rule.enabled or not rule.uncertain(s.intent, s.confidence):
        return None
    streak = s.low_confidence_streak + 1
    if streak >= rule.max_consecutive:
        return Trigger(
            "low_confidence", f"not understood {streak} times in a row (confidence {s.confidence:.2f})"
        )
    return None


_CHECKS = {
    "high_stakes": high_stakes,
    "customer_request": customer_request,
    "vip_customer": vip_customer,
    "negative_sentiment": negative_sentiment,
    "repeated_failure": repeated_failure,
    "low_confidence": low_confidence,
}


def evaluate(signals: Signals, policy: EscalationPolicy) -> list[Trigger]:
    """Every trigger that fires, in the policy's precedence order (the first one is the handoff reason)."""
    fired = []
    for name in policy.precedence:
        trigger = _CHECKS[name](signals, policy)
        if trigger is not None:
            fired.append(trigger)
    return fired


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
