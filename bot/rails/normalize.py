"""The views of a message that the input rails look at, so that encoding alone never gets an instruction past them.

An attacker writes "іgnоrе" with Cyrillic letters, hides zero-width joiners inside keywords, spaces the letters out,
writes leetspeak, or base64-encodes the whole instruction. Each trick is undone in one more *view* of the text; the
rails match their patterns against every view, and a message is as guilty as its guiltiest view. The customer's
words themselves are never changed here: views are for detection only.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from urllib.parse import unquote

from anyascii import anyascii

from bot.rails.confusables import fold_confusables

MAX_VIEW_CHARS = 20_000  # rails look at this much of a message (longer ones are refused by the input limits)

_INVISIBLE = {"Cf", "Cc", "Mn", "Me"}  # format (zero-width, bidi), control, combining marks
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                       "|": "i", "+": "t", "€": "e"})
_LEETY = re.compile(r"[a-z][0-9@$!|€+]|[0-9@$!|€+][a-z]")
# Letters spelled out one at a time: "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e" (words split by 2+ spaces or " / ").
_SPACED_MARKS = re.compile(r"(?<![^\W_])(?:[^\W\d_][.\-_*·]){2,}[^\W\d_](?![^\W_])")  # i.g.n.o.r.e
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W\d_] ){2,}[^\W\d_](?![^\W_])")  # i g n o r e
_B64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}(?:[\s:,]|\\x)?){8,}")
_HEX_ESCAPE = re.compile(r"(?:\\x[0-9a-fA-F]{2}){4,}")
_URLENC = re.compile(r"(?:%[0-9a-fA-F]{2}){3,}")


def base_view(text: str) -> str:
    """NFKC (full-width and compatibility forms folded), casefolded, invisible and combining characters removed."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text[:MAX_VIEW_CHARS]))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE or ch in "\n\t")
    return unicodedata.normalize("NFC", text).casefold()


def _printable(data: bytes) -> str | None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < 6:
        return None
    letters = sum(ch.isalpha() or ch.isspace() for ch in decoded)
    return decoded if letters / len(decoded) >= 0.75 else None


def decoded_payloads(text: str) -> list[str]:
    """Text hidden in base64, hex, \\x escapes, %-encoding or HTML entities, decoded (one level)."""
    found: list[str] = []
    for match in _B64.findall(text):
        chunk = match.replace("-", "+").replace("_", "/")
        try:
            data = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(data)) is not None:
            found.append(decoded)
    for match in _HEX.findall(text) + _HEX_ESCAPE.findall(text):
        digits = re.sub(r"[^0-9a-fA-F]", "", match.replace("\\x", ""))
        if len(digits) % 2 == 0 and (decoded := _printable(bytes.fromhex(digits))) is not None:
            found.append(decoded)
    if _URLENC.search(text):
        found.append(unquote(text))
    if "&" in text and ";" in text:
        unescaped = html.unescape(text)
        if unescaped != text:
            found.append(unescaped)
    return found


def _join_spaced(text: str) -> str:
    text = _SPACED_MARKS.sub(lambda m: re.sub(r"[.\-_*·]", "", m.group(0)), text)
    return _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)


def views(text: str) -> list[str]:
    """Every distinct view of `text` worth matching: base, transliterated, de-leeted, letters joined, decoded."""
    base = base_view(text)
    out = [base]
    ascii_ = anyascii(fold_confusables(base)).lower() if not base.isascii() else base
    out.append(ascii_)
    if _LEETY.search(ascii_):
        out.append(ascii_.translate(_LEET))
    joined = _join_spaced(re.sub(r"\s{2,}|\s*/\s*", "  ", ascii_))
    out.append(" ".join(joined.split()))
    for payload in decoded_payloads(text[:MAX_VIEW_CHARS]):
        inner = anyascii(fold_confusables(base_view(payload))).lower()
        out.append(inner)
        if _LEETY.search(inner):
            out.append(inner.translate(_LEET))
    seen: set[str] = set()
    return [v for v in out if v and not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]

