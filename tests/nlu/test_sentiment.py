"""Sentiment: signs on clear cases and the documented customer-service adjustments."""

from __future__ import annotations

import threading

import pytest

from bot.nlu import sentiment as S
from bot.nlu.sentiment import sentiment


@pytest.mark.parametrize(
    "text",
    ["this is the worst service ever", "this is unacceptable", "I'm really disappointed", "I hate this",
     "you people are useless", "what a joke", "I'm fed up", "total rip off", "this is a scam"],
)
def test_clearly_negative(text):
    assert sentiment(text) <= -0.4, text


@pytest.mark.parametrize("text", ["worst service ever", "this is unacceptable"])
def test_strong_complaints_are_clearly_negative(text):
    assert sentiment(text) <= -0.55


@pytest.mark.parametrize("text", ["thanks so much, that was really helpful", "perfect, thank you!",
                                  "I love it, great service", "awesome thanks"])
def test_clearly_positive(text):
    assert sentiment(text) >= 0.4, text


@pytest.mark.parametrize(
    "text",
    ["kill my subscription", "please kill my subscription", "nuke my account", "cancel my order",
     "where is my order A10234", "no", "I need help with my order", "can you help me"],
)
def test_operational_requests_are_neutral(text):
    assert -0.05 <= sentiment(text) <= 0.05, (text, sentiment(text))


@pytest.mark.parametrize("text", ["that didn't help", "you're not helping", "that doesn't help at all"])
def test_unhelpful_is_mildly_negative(text):
    assert -0.6 <= sentiment(text) <= -0.2


def test_joke_rewrite_only_applies_to_complaints():
    assert sentiment("tell me a joke") > 0
    assert sentiment("your return process is a joke") < 0


def test_no_thanks_is_not_negative():
    assert sentiment("no thanks") >= 0
    assert sentiment("no, thank you") >= 0


def test_damage_words_are_mildly_negative():
    for text in ("my screen is cracked", "the kettle is leaking", "the box was dented"):
        assert -0.6 < sentiment(text) < 0, text


def test_range_and_empty():
    assert sentiment("") == 0.0 and sentiment("   ") == 0.0
    for text in ("AAAARGH!!! WORST. SERVICE. EVER!!!", "😡😡😡", "love love love love love"):
        assert -1.0 <= sentiment(text) <= 1.0


def test_one_analyzer_per_process_and_thread_safe():
    S.warm()
    first = S._get()
    out: list[float] = []
    threads = [threading.Thread(target=lambda: out.append(sentiment("this is unacceptable"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert S._get() is first and len(set(out)) == 1
    # the adjustments live on our instance only
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    assert SentimentIntensityAnalyzer().lexicon["unacceptable"] != first.lexicon["unacceptable"]
