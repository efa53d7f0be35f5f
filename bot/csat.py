"""Customer satisfaction: reading a 1–5 rating from what the customer wrote or said, and the proxy when they did not.

The question is asked at the end of a conversation (guardrails/modes.yaml `csat`). Chat answers with a button or a
number, voice with a spoken number that speech recognition wrote down ("four", sometimes "for"), so the parser
takes digits, number words and their common mishearings — but only when the message is little more than the rating,
so "I have 2 more questions" is not a rating. Where no answer comes, a proxy from the sentiment trail stands in,
always stored and reported as `proxy`, never mixed with what customers said.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

SCALE = (1, 5)
_WORDS = {
    "one": 1, "won": 1, "two": 2, "to": 2, "too": 2, "three": 3, "tree": 3, "free": 3, "four": 4, "for": 4,
    "fore": 4, "floor": 4, "five": 5, "fife": 5,
}
# Mishearings ("floor": pocketsphinx on "four", tests/voice/test_csat_call.py): only as the whole answer, or after a
# rating verb — "I'd say for", "I would give it for" — never inside a sentence ("thank you for", "is it free").
_HOMOPHONES = {"won", "to", "too", "tree", "free", "for", "fore", "floor", "fife"}
_RATING_VERBS = {"say", "give", "gave", "rate"}
_FILLER = {"i", "give", "gave", "it", "a", "would", "say", "rate", "rating", "my", "is", "of", "out", "stars", "star",
           "points", "point", "um", "uh", "hmm", "ok", "okay", "well", "maybe", "probably", "about", "solid",
           "just", "the", "you", "thanks", "thank", "please", "so", "that's", "its", "it's", "definitely"}
_TOKEN = re.compile(r"[a-z']+|\d+(?:[.,]\d+)?")


def parse_rating(text: str) -> int | None:
    """The rating in an answer to the CSAT question, or None when the answer is not (only) a rating.

    Accepts "4", "4/5", "4 out of 5", "four stars", "I'd give it a five", "5!"; refuses "10", "2 or 3",
    "where is my order 12345" and anything with more than a few other words.
    """
    text = re.sub(r"(\d)\s*/\s*(5|five)\b", r"\1 of 5", (text or "").lower().replace("i'd", "i would"))
    tokens = _TOKEN.findall(text)
    if not tokens or len(tokens) > 8:
        return None
    found: list[int] = []
    rest: list[str] = []
    for i, token in enumerate(tokens):
        if token[0].isdigit():
            if "." in token or "," in token:
                return None  # "4.5": not on the scale the question gave
            value = int(token)
            if value == 5 and i > 0 and tokens[i - 1] == "of" and found:  # "4 out of 5"
                continue
            found.append(value)
        elif token in _WORDS and (token not in _HOMOPHONES or len(tokens) <= 2 or _after_verb(tokens, i)):
            if token == "five" and i > 0 and tokens[i - 1] == "of" and found:
                continue
            found.append(_WORDS[token])
        elif token not in _FILLER:
            rest.append(token)
    if len(found) != 1 or rest:
        return None
    value = found[0]
    return value if SCALE[0] <= value <= SCALE[1] else None


def _after_verb(tokens: list[str], i: int) -> bool:
    """`tokens[i]` follows a rating verb, maybe with "it" / "a" between: "say for", "give it a for"."""
    j = i - 1
    while j >= 0 and tokens[j] in ("it", "a"):
        j -= 1
    return j >= 0 and tokens[j] in _RATING_VERBS


def proxy(sentiments: Sequence[float | None], turns: int = 3) -> float | None:
    """A 1–5 stand-in from the customer's last `turns` sentiment readings (-1..1): 3 + 2 × their mean, to one
    decimal. None without any reading. It is a proxy: mood is not satisfaction, and it is labelled so wherever
    it is stored or shown."""
    values = [float(s) for s in sentiments if s is not None][-turns:]
    if not values:
        return None
    mean = sum(values) / len(values)
    return round(min(5.0, max(1.0, 3.0 + 2.0 * mean)), 1)


def awaiting(state: Mapping[str, Any]) -> bool:
    """True while the conversation's last reply is the CSAT question and nothing answered it yet: no customer
    message since (the same test as `TurnResult.csat_asked`, for a front end that reads the graph state — a page
    reloaded, a long poll that brought an agent's resolve notice)."""
    asked = state.get("csat") or {}
    return bool(asked.get("asked")) and asked.get("asked") == state.get("turn") and asked.get("score") is None
