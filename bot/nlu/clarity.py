"""Is this message understandable at all? Keyboard mash and contentless filler, told apart from short real messages.

A classifier always answers, and it can be very sure about nonsense ("flooble the wozzle" → damaged_item 0.99,
"the thing" → damaged_item 0.87): its probabilities describe which class is *nearest*, not whether the text means
anything. This scores the words instead: 0.0 when a message has no content word (only stop words and filler:
"hmm", "the thing", "so about that", "???"), otherwise the share of its content words the classifier has ever seen
in training (so "asdkjh qwe" and "flooble the wozzle" score low). Short social messages ("hi", "ok", "thanks",
"no") and messages with an order id, email or phone number are always clear. Only meaningful for English: other
languages are recognised, and routed, before this matters.
"""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as STOP_WORDS

from bot.nlu.normalize import EMAIL_TOKEN, ORDER_TOKEN, PHONE_TOKEN, SKU_TOKEN, normalize

#: Words that carry no request on their own (besides stop words).
FILLER = frozenset(
    "hmm hm hmmm umm um uh uhh er erm ah eh huh idk dunno thing things stuff something anything know mean think "
    "guess like just really well okay so yeah yea sort kind whatever lol mm mhm".split()
)
#: Complete messages by themselves.
SHORT_FORMS = frozenset(
    "hi hello hey hiya howdy morning evening bye goodbye cya thanks thank thx ty cheers ok okay k yes yep yup "
    "sure no nope nah please help agent human person representative".split()
)
_ENTITY_TOKENS = {t.strip() for t in (ORDER_TOKEN, EMAIL_TOKEN, PHONE_TOKEN, SKU_TOKEN)}
_WORD = re.compile(r"[a-z]+")
CLEAR_ABOVE = 0.5


def clarity(text: str, known_words: frozenset[str] | set[str]) -> float:
    """0.0 (nothing understandable) to 1.0 (every content word is a known word)."""
    tokens = normalize(text).split()
    if any(t in _ENTITY_TOKENS for t in tokens):
        return 1.0
    words = [w for t in tokens for w in _WORD.findall(t) if not w.startswith("zz")]
    if any(w in SHORT_FORMS for w in words):
        return 1.0
    content = [w for w in words if w not in STOP_WORDS and w not in FILLER]
    if not content:
        return 0.0
    return sum(1 for w in content if w in known_words) / len(content)
