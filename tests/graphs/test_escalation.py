"""Each trigger on its own: fires on what it should, stays quiet on what it should not."""

from __future__ import annotations

import pytest

from graphs.escalation import Signals, evaluate


def signals(text="hello", **kw):
    base = dict(text=text, intent="greeting", confidence=0.9, sentiment=0.0, sentiment_trail=(), failures=0,
                failure_signal=False, low_confidence_streak=0, tier="standard")
    base.update(kw)
    return Signals(**base)


def reasons(policies, **kw):
    return [t.reason for t in evaluate(signals(**kw), policies.escalation)]


@pytest.mark.parametrize("text", ["I want to talk to a human", "agent", "human please", "get me a supervisor",
                                  "can I speak with someone", "je veux parler à un conseiller",
                                  "quiero hablar con una persona", "Ich möchte mit einem Menschen sprechen"])
def test_customer_request_fires(policies, text):
    assert reasons(policies, text=text)[:1] == ["customer_request"]


@pytest.mark.parametrize("text", ["my travel agent booked it and the building manager signed for the parcel",
                                  "kill my subscription", "where is my order"])
def test_customer_request_quiet(policies, text):
    assert "customer_request" not in reasons(policies, text=text)


def test_classifier_intent_alone_is_a_request(policies):
    assert reasons(policies, text="can someone look at this", intent="human_request") == ["customer_request"]


def test_negative_sentiment_single_and_rolling(policies):
    assert reasons(policies, sentiment=-0.9) == ["negative_sentiment"]
    assert reasons(policies, sentiment=-0.5) == []
    assert reasons(policies, sentiment=-0.5, sentiment_trail=(-0.5, -0.5)) == ["negative_sentiment"]
    assert reasons(policies, sentiment=-0.5, sentiment_trail=(0.6, -0.5)) == []


def test_abuse_counts_as_negative_sentiment(policies):
    assert reasons(policies, sentiment=0.0, abusive=True) == ["negative_sentiment"]


def test_repeated_failure_counts(policies):
    assert reasons(policies, failure_signal=True, failures=0) == []
    assert reasons(policies, failure_signal=True, failures=1) == ["repeated_failure"]
    assert reasons(policies, failure_signal=False, failures=5) == []


@pytest.mark.parametrize("text,topic", [("this is fraud", "fraud"), ("I'm going to sue you", "legal"),
                                        ("I see an unauthorized charge", "unauthorised charge"),
                                        ("my account was hacked", "account compromise"),
                                        ("the charger caught fire", "safety"),
                                        ("I never placed these orders", "account compromise")])
def test_high_stakes_topics(policies, text, topic):
    fired = evaluate(signals(text=text), policies.escalation)
    assert fired[0].reason == "high_stakes" and topic in fired[0].evidence


@pytest.mark.parametrize("text", ["my card was charged twice", "the issue is the tracking", "I want a refund",
                                  "does the kettle have an auto shut-off", "the fire tablet case"])
def test_high_stakes_quiet(policies, text):
    assert "high_stakes" not in reasons(policies, text=text)


def test_vip_tier_and_hand_back(policies):
    assert reasons(policies, tier="vip") == ["vip_customer"]
    assert reasons(policies, tier="gold") == []
    assert reasons(policies, tier="vip", handed_back=True) == []


def test_low_confidence_needs_a_streak(policies):
    assert reasons(policies, confidence=0.2) == []
    assert reasons(policies, confidence=0.2, low_confidence_streak=1) == ["low_confidence"]
    assert reasons(policies, confidence=0.9, low_confidence_streak=5) == []


def test_precedence_orders_the_reasons(policies):
    fired = reasons(policies, text="I want a human, this is fraud", tier="vip", sentiment=-0.9)
    assert fired == ["high_stakes", "customer_request", "vip_customer", "negative_sentiment"]
