"""Entity extraction with regular expressions: order ids, emails, phone numbers, amounts, SKUs.

:func:`extract` returns ``{"order_ids", "emails", "phones", "amounts", "skus"}``, each a list de-duplicated in order
of appearance.

* ``order_ids`` - canonical ``A`` + 5 digits, uppercase. Accepted: ``A10234``, ``a10234``, ``#A10234``, ``#10234``,
  and a bare 5-digit number right after the word *order* ("order 10234", "order #10234", "order number 10234",
  "order no. 10234", "my order number is 10234"). A bare 5-digit number anywhere else (a zip code) and 4-digit
  numbers (years) are never order ids.
* ``emails`` - lowercased.
* ``phones`` - as written (whitespace collapsed). A candidate needs 7-15 digits and either a leading ``+``, separators
  (space, dot, dash, parentheses) with at least 7 digits, or at least 10 plain digits. Dates (2024-05-12), order ids,
  amounts and 13-19-digit Luhn-valid card numbers are not phones.
* ``amounts`` - the number only, thousands separators dropped, decimal comma turned into a dot: "$1,299.00" ->
  "1299.00", "49,99 €" -> "49.99", "20 dollars" -> "20". A number counts as an amount when it carries a currency
  symbol/code/word, or has exactly two decimals ("charged 89.95").
* ``skus`` - product codes written ``SKU-1234`` / ``sku 1234`` / ``SKU:AB-12`` -> ``SKU-1234`` (uppercase).

Spans are consumed in that priority (emails, order ids, SKUs, amounts, phones), so one piece of text never yields
two entities.
"""

from __future__ import annotations

import re
import unicodedata

from bot.rails.placeholders import PLACEHOLDER

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

_ORDER_DIRECT = re.compile(r"(?<![\w#])#?\s?[Aa](\d{5})(?!\d)\b")
_ORDER_HASH = re.compile(r"(?<![\w#])#\s?(\d{5})(?![\d.,]\d|\d)")
_ORDER_AFTER_WORD = re.compile(
    r"\border(?:s)?(?:\s+(?:number|num|no\.?|nr\.?|id|ref(?:erence)?|#))?(?:\s+(?:is|was))?"
    r"\s*[:#]?\s*#?\s*(\d{5})(?!\d)\b",
    re.IGNORECASE,
)

# "SKU" then a separator (or straight into a digit), then a code containing at least one digit: not "skull".
_SKU = re.compile(r"\bsku(?:[\s:#-]+|(?=\d))(?=[A-Za-z0-9-]*\d)([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\b", re.IGNORECASE)

_CUR_SYM = r"[$€£¥₹]"
_CUR_WORD = r"(?:usd|eur|gbp|cad|aud|chf|dollars?|bucks|euros?|quid)"  # not "pounds": usually weight
_NUM = r"\d{1,3}(?:[,.\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    rf"(?:{_CUR_SYM}|\b(?:usd|eur|gbp|cad|aud|chf)\b)\s?(?P<a>{_NUM})(?![\d])"
    rf"|(?<![\w.,])(?P<b>{_NUM})\s?(?:{_CUR_SYM}|{_CUR_WORD}\b)"
    rf"|(?<![\w.,])(?P<c>\d+\.\d{{2}})(?![\d.])",
    re.IGNORECASE,
)

_PLACEHOLDER = PLACEHOLDER
_PLACEHOLDER_KINDS = {"EMAIL": "emails", "PHONE": "phones"}

_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")
_DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def _canonical_amount(raw: str) -> str:
    s = re.sub(r"\s", "", raw)
    # The last separator followed by 1-2 digits is the decimal mark; every other separator groups thousands.
    m = re.match(r"^(.*?)[.,](\d{1,2})$", s)
    whole, dec = (m.group(1), m.group(2)) if m else (s, None)
    whole = re.sub(r"[.,]", "", whole)
    return f"{whole}.{dec}" if dec is not None else whole


def _add(out: list[str], value: str) -> None:
    if value not in out:
        out.append(value)


def extract(text: str) -> dict[str, list[str]]:
    """Entities found in `text` (see the module docstring for the rules)."""
    result: dict[str, list[str]] = {"order_ids": [], "emails": [], "phones": [], "amounts": [], "skus": []}
    if not text:
        return result
    s = unicodedata.normalize("NFKC", text)
    found: list[tuple[int, str, str]] = []  # (position, kind, value) so each list keeps textual order

    # Personal data was replaced by placeholders at the door ([EMAIL-3f9a]); they stand for the value itself.
    for m in _PLACEHOLDER.finditer(s):
        kind = _PLACEHOLDER_KINDS.get(m.group(1))
        if kind:
            found.append((m.start(), kind, m.group(0)))
        s = _mask(s, m.start(), m.end())
    for m in _EMAIL.finditer(s):
        found.append((m.start(), "emails", m.group(0).lower().rstrip(".")))
        s = _mask(s, m.start(), m.end())
    for pattern in (_ORDER_DIRECT, _ORDER_AFTER_WORD, _ORDER_HASH):
        for m in pattern.finditer(s):
            found.append((m.start(1), "order_ids", "A" + m.group(1)))
            s = _mask(s, m.start(1) - 1 if pattern is _ORDER_DIRECT else m.start(1), m.end(1))
    for m in _SKU.finditer(s):
        found.append((m.start(), "skus", "SKU-" + m.group(1).upper()))
        s = _mask(s, m.start(), m.end())
    for m in _AMOUNT.finditer(s):
        raw = m.group("a") or m.group("b") or m.group("c")
        found.append((m.start(), "amounts", _canonical_amount(raw)))
        s = _mask(s, m.start(), m.end())
    for m in _PHONE.finditer(s):
        cand = m.group(0).strip(" .-")
        digits = re.sub(r"\D", "", cand)
        if not 7 <= len(digits) <= 15 or _DATE.match(cand):
            continue
        has_sep = bool(re.search(r"[\s().-]", cand))
        if not (cand.startswith("+") or has_sep or len(digits) >= 10):
            continue
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and not cand.startswith("+"):
            continue  # a payment card number, not a phone
        found.append((m.start(), "phones", re.sub(r"\s+", " ", cand)))
        s = _mask(s, m.start(), m.end())

    for _, kind, value in sorted(found, key=lambda f: f[0]):
        _add(result[kind], value)
    return result
