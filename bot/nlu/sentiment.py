"""Per-message sentiment: VADER's compound score in [-1, 1] with a few customer-service adjustments.

VADER is a general-purpose social-media lexicon. Measured on store chat phrasing it gets a handful of obvious
cases wrong, so this module applies two small, documented kinds of adjustment, and nothing else:

1. Idiom rewrites (before scoring) that map a customer-service idiom onto an ordinary word with the intended meaning,
   so VADER's own rules (negation, boosters, caps) still apply:

   ==========================================  =========================  =======================================
   pattern                                     becomes                    why (VADER compound before -> after)
   ==========================================  =========================  =======================================
   kill/nuke/axe/scrap/ditch/terminate/end     "cancel <object>"          "kill my subscription" -0.69 -> 0.0:
   + my/the/this subscription/order/account/                              a cancellation request, not violence
   membership/plan/trial
   didn't / doesn't / not / no + help(ing)     "unhelpful"                "that didn't help" -0.31 -> -0.44
                                                                          (and stays negative although "help"
                                                                          itself is neutralised)
   "is a joke" / "what a joke" / "total joke"  "a farce"                  "this is a joke" +0.30 -> -0.40
   (not "tell me a joke")
   "no thanks" / "no thank you"                "thanks"                   -0.34 -> +0.44: a polite decline
   "fed up"                                    "frustrated"               "I'm fed up" 0.0 -> -0.53
   "rip off" / "rip-off"                       "ripoff"                   "total rip off" 0.0 -> -0.59
   ==========================================  =========================  =======================================

2. Lexicon values (VADER's -4..+4 scale) for words whose general-purpose valence is wrong in a store chat:

   * neutral (0.0): ``cancel``, ``cancelled``, ``no``, ``please``, ``help`` - operational words. "cancel my order"
     was -0.25, a bare "no" (answering "anything else?") -0.30, "please help" +0.61. ``helped`` +1.5 is added
     so "that helped" reads positive (negated forms were already rewritten to "unhelpful").
   * stronger or missing complaint words: ``unacceptable`` -2.0 -> -2.8 ("this is unacceptable" -0.46 -> -0.57),
     ``ridiculous`` -1.5 -> -2.0, ``unhelpful`` -1.9, ``ripoff`` -2.5, ``rubbish``/``garbage`` -1.8, ``junk`` -1.5.
   * product-defect words VADER lacks, scaled like its ``torn`` (-1.0) and ``faulty`` (-1.3): ``cracked`` -1.3,
     ``smashed`` -1.5, ``dented`` -1.0, ``leaking`` -1.0, ``ripped`` -1.0, ``scratched`` -0.8.

Legal threats ("I will sue you") stay neutral on purpose: they are a high-stakes *topic* for the rails, not a mood.

One analyzer per process, built lazily under a lock (construction reads the lexicon file, ~30 ms); a call takes
~0.1 ms.
"""

from __future__ import annotations

import re
import threading
from typing import Any

LEXICON_UPDATES: dict[str, float] = {
    # operational words: neutral in a store chat
    "cancel": 0.0,
    "cancelled": 0.0,
    "no": 0.0,
    "please": 0.0,
    "help": 0.0,
    "helped": 1.5,  # "that helped" (VADER lacks it); negated forms are rewritten to "unhelpful" first
    # complaint vocabulary VADER under-weights or lacks
    "unacceptable": -2.8,
    "ridiculous": -2.0,
    "unhelpful": -1.9,
    "ripoff": -2.5,
    "rubbish": -1.8,
    "garbage": -1.8,
    "junk": -1.5,
    # product-defect words VADER lacks
    "cracked": -1.3,
    "smashed": -1.5,
    "dented": -1.0,
    "leaking": -1.0,
    "ripped": -1.0,
    "scratched": -0.8,
}

_OBJECTS = r"subscriptions?|orders?|account|membership|plan|trial|auto[- ]?renew(?:al)?|box|delivery|deliveries"
REWRITES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            rf"\b(?:kill|nuke|axe|scrap|ditch|terminate|end)\s+((?:my|the|this|that|our|your)\s+)?"
            rf"((?:\w+\s+)?(?:{_OBJECTS}))\b",
            re.IGNORECASE,
        ),
        r"cancel \1\2",
    ),
    (
        re.compile(
            r"\b(?:\w+n['’]t|didnt|doesnt|dont|isnt|wasnt|werent|arent|hasnt|havent|hadnt|wont|wouldnt|cant|couldnt"
            r"|did\s+not|does\s+not|do\s+not|is\s+not|was\s+not|has\s+not|have\s+not|not|no|never)"
            r"\s+(?:really\s+|much\s+|any\s+|at\s+all\s+)?help(?:ing|ed|s)?\b",
            re.IGNORECASE,
        ),
        "unhelpful",
    ),
    (
        re.compile(
            r"\b(?:(?:is|are|was|what|such|you['’]?re|it['’]?s|that['’]?s)\s+(?:an?\s+)?"
            r"(?:total\s+|complete\s+|absolute\s+|bloody\s+|fucking\s+)?|(?:total|complete|absolute)\s+)joke\b",
            re.IGNORECASE,
        ),
        "a farce",
    ),
    (re.compile(r"\bno,?\s+(thanks|thank\s+you|thx|ty)\b", re.IGNORECASE), r"\1"),
    (re.compile(r"\bfed\s+up\b", re.IGNORECASE), "frustrated"),
    (re.compile(r"\brip[\s-]?off\b", re.IGNORECASE), "ripoff"),
]

_analyzer: Any = None
_lock = threading.Lock()


def _get() -> Any:
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                analyzer = SentimentIntensityAnalyzer()
                analyzer.lexicon.update(LEXICON_UPDATES)  # this instance's own dict; VADER's file is untouched
                _analyzer = analyzer
    return _analyzer


def warm() -> None:
    """Build the analyzer now (otherwise the first call does)."""
    _get()


def rewrite(text: str) -> str:
    """`text` with the customer-service idiom rewrites applied (exposed for tests and debugging)."""
    for pattern, repl in REWRITES:
        text = pattern.sub(repl, text)
    return text


def sentiment(text: str) -> float:
    """VADER compound score of `text` in [-1, 1] (negative < 0), with the adjustments above. Empty text -> 0.0."""
    if not text or not text.strip():
        return 0.0
    return float(_get().polarity_scores(rewrite(text))["compound"])
