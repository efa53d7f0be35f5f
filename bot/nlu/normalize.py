"""Text normalisation shared by the intent classifier (and usable by callers that want the same view of a message).

Steps: Unicode NFKC, lowercase, order ids / emails / phone numbers / amounts / SKUs / other numbers replaced by
placeholder tokens, apostrophes dropped ("can't" -> "cant", so the typo and the proper spelling meet), every other
non-word character turned into a space, whitespace collapsed.

Placeholders are plain letter strings that never occur in real text (``zzorderidzz``...), so both the word and the
character n-gram features treat them as one distinctive unit and the classifier learns "an order id was mentioned"
rather than any particular id.
"""

from __future__ import annotations

import re
import unicodedata

ORDER_TOKEN = " zzorderidzz "
EMAIL_TOKEN = " zzemailzz "
PHONE_TOKEN = " zzphonezz "
MONEY_TOKEN = " zzmoneyzz "
SKU_TOKEN = " zzskuzz "
NUM_TOKEN = " zznumzz "

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A10234, #A10234, a10234 (letter A + 5 digits); #10234; "order 10234", "order #10234", "order number 10234".
_ORDER_ID = re.compile(r"#?\ba\d{5}\b|#\s?\d{4,6}\b")
_ORDER_NUMBER = re.compile(r"\b(order)(?:\s+(?:number|num|no|nr|id))?\.?\s*[:#]?\s*(\d{4,6})\b")
_SKU = re.compile(r"\bsku(?:[\s:#-]+|(?=\d))(?=[a-z0-9-]*\d)[a-z0-9]+(?:-[a-z0-9]+)*\b")
_MONEY = re.compile(
    r"[$€£]\s?\d[\d,]*(?:\.\d{1,2})?"
    r"|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:\$|€|£|usd|eur|gbp|dollars?|euros?|bucks)\b"
    r"|\b\d+\.\d{2}\b"
)
_PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{7,}\d(?!\w)")
_NUMBER = re.compile(r"\d+")
_APOSTROPHE = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[^\w]+")
_UNDERSCORE = re.compile(r"_+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The classifier's view of `text` (see the module docstring). Pure and fast (~10 µs for a chat message)."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = _EMAIL.sub(EMAIL_TOKEN, s)
    s = _ORDER_NUMBER.sub(r"\1" + ORDER_TOKEN, s)
    s = _ORDER_ID.sub(ORDER_TOKEN, s)
    s = _SKU.sub(SKU_TOKEN, s)
    s = _MONEY.sub(MONEY_TOKEN, s)
    s = _PHONE.sub(PHONE_TOKEN, s)
    s = _NUMBER.sub(NUM_TOKEN, s)
    s = _APOSTROPHE.sub("", s)
    s = _NON_WORD.sub(" ", s)
    s = _UNDERSCORE.sub(" ", s)
    return _SPACES.sub(" ", s).strip()
