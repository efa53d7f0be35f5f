"""bot/csat.py: what counts as a rating (typed, pressed or heard), the proxy, and when the question is awaiting."""

from __future__ import annotations

import pytest

from bot.csat import awaiting, parse_rating, proxy


@pytest.mark.parametrize("text, score", [
    ("4", 4), ("1", 1), ("5", 5), (" 3 ", 3), ("5!", 5), ("4.", 4),
    ("four", 4), ("Five", 5), ("one", 1), ("two", 2), ("three", 3),
    ("4/5", 4), ("4 / 5", 4), ("3/five", 3), ("4 out of 5", 4), ("four out of five", 4), ("2 of 5", 2),
    ("I'd give it a five", 5), ("i would give it a 4", 4), ("I'd say 3", 3), ("four stars", 4), ("5 stars", 5),
    ("my rating is 2", 2), ("um four", 4), ("4 thanks", 4), ("solid 4", 4), ("definitely a five", 5),
    # what speech recognition writes for a lone spoken number
    ("for", 4), ("fore", 4), ("won", 1), ("to", 2), ("too", 2), ("tree", 3), ("free", 3), ("fife", 5),
    ("for.", 4), ("uh for", 4), ("floor", 4), ("definitely floor", 4), ("for thanks", 4),
    # ... and after a rating verb (pocketsphinx on flite's "I'd say four", "I would give it four", "I give it ...")
    ("i'd say for", 4), ("i would give it for", 4), ("i would say floor", 4), ("i gave it four stars", 4),
    ("i would say too", 2), ("i'd rate it a tree", 3),
])
def test_ratings_are_read(text, score):
    assert parse_rating(text) == score


@pytest.mark.parametrize("text", [
    "", "   ", "hello", "thanks, bye", "0", "6", "10", "45", "4.5", "4,5", "2 or 3", "3 to 4", "4 5",
    "where is my order 12345", "where is my order A10002", "I have 2 more questions", "can I return 2 items",
    "what about four of them", "it was good for me", "free shipping?", "i want to talk to a human",
    "one two three four five", "I'd give it a five but the delivery was late and the box was broken",
    "thank you for", "is it free", "it is for me", "i would say for starters", "the floor is wet", "say to him",
    "5/10",
])
def test_anything_else_is_not_a_rating(text):
    assert parse_rating(text) is None


def test_homophones_count_only_as_the_whole_answer():
    assert parse_rating("for") == 4
    assert parse_rating("it is for me") is None  # "for" inside a sentence is the word, not the number
    assert parse_rating("too") == 2 and parse_rating("me too") is None


def test_the_proxy_is_the_last_readings_mean_on_the_1_to_5_scale():
    assert proxy([]) is None and proxy([None, None]) is None
    assert proxy([0.0]) == 3.0
    assert proxy([1.0, 1.0]) == 5.0 and proxy([-1.0]) == 1.0
    assert proxy([-1.0, 0.5, 0.5, 0.2], turns=3) == round(3 + 2 * (0.5 + 0.5 + 0.2) / 3, 1)  # the last three only
    assert proxy([0.9, None, -0.3]) == round(3 + 2 * 0.3, 1)  # missing readings are skipped


def test_awaiting_means_asked_in_the_last_reply_and_not_answered():
    asked = {"asked": 3, "after": "goodbye", "score": None, "source": None}
    assert awaiting({"turn": 3, "csat": asked})
    assert not awaiting({"turn": 4, "csat": asked})  # another customer message came since
    assert not awaiting({"turn": 3, "csat": dict(asked, score=4, source="customer")})
    assert not awaiting({"turn": 3, "csat": None}) and not awaiting({})
