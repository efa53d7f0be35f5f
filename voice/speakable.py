"""Text between the bot and a phone line: chat replies made speakable, and recogniser transcripts made parseable.

A chat reply is written for a screen: markdown, links, `$12.50`, `A10234`, ISO dates. Read aloud by a TTS voice
those come out as "asterisk asterisk", a minute of URL, "twelve point five zero" and "a ten thousand two hundred...".
`for_speech` rewrites them as a person would say them, `sentences` / `shorten` keep a spoken answer short, and
`spoken_digits` goes the other way: "a one zero two three four" in a transcript becomes "A10234" for the extractor.
"""

from __future__ import annotations

import re

_MONTHS = "January February March April May June July August September October November December".split()
# Redacted personal data: the brief's `<EMAIL_1>` and the rails' `[EMAIL-3f9a]` (bot/rails/placeholders.py).
_PLACEHOLDER = re.compile(r"<([A-Z]+(?:_[A-Z]+)*)_\d+>|\[([A-Z]+)-[0-9a-f]{4}\]")
_PLACEHOLDER_WORDS = {"EMAIL": "your email address", "PHONE": "your phone number", "CARD": "your card"}
_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_URL = r"(?<![\w@.])(?:https?://|www\.)[^\s<>()\[\]*|]*[^\s<>()\[\]*|.,;:!?'\"]"
_URL_IN_PARENS = re.compile(rf"\s*\(\s*{_URL}\s*\)")
_URL_AFTER_SITE = re.compile(rf"\b((?:our|the) (?:website|site))[\s:,-]*(?:(?:at|on)\s+)?{_URL}", re.IGNORECASE)
_BARE_URL = re.compile(_URL)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_SKIP_LINE = re.compile(r"^\s*(?:([-*_])(?:\s*\1){2,}|[|:\s-]*-{3,}[|:\s-]*|```.*|~~~.*)\s*$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(.*?)[\s#]*$")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_CODE = re.compile(r"`([^`\n]*)`")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_MONEY = re.compile(r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?!\d)")
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence")}
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ORDER_ID = re.compile(r"(?<![\w#])#?[Aa](\d{5})(?![\w])")
_SKU = re.compile(r"\b(?i:sku)[\s:#-]?(?=[A-Z0-9-]*\d)([A-Z0-9]+(?:-[A-Z0-9]+)*)\b")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2190-\u21FF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF"
                    "\uFE0E\uFE0F\u200D\u20E3]")  # pictographs, arrows, dingbats, and the joiners between them
_LEFTOVER = re.compile(r"[*#|<>~`^\\\[\]{}•]")
_FINAL = ".?!:;"
_ABBREVIATIONS = {"e.g.", "i.e.", "dr.", "mr.", "mrs.", "ms.", "st.", "vs."}
_SENTENCE_END = re.compile(r"[.?!]+[\"')\]]*(?=\s|$)")
_REAL_DIGITS = dict(zip("zero one two three four five six seven eight nine".split(), "0123456789"))
_DIGIT_WORDS = _REAL_DIGITS | {"oh": "0", "o": "0"}  # "oh"/"o" are 0 only in a run with a real digit word
_REPEATS = {"double": 2, "triple": 3}


def for_speech(text: str) -> str:
    """A chat reply as a phone voice should say it: no markdown, no URLs, ids spelled out, money and dates in words.

    Placeholders, links, URLs and e-mails go first, on the raw text, because their characters (`_`, `*`, `.`) would
    otherwise be taken for markdown; the markdown is then undone line by line, because list items, headings and
    table rows need a full stop where the screen had a line break.
    """
    text = _PLACEHOLDER.sub(_placeholder_words, _EMOJI.sub("", text))
    text = _LINK.sub(r"\1", text)
    text = _URL_IN_PARENS.sub("", text)  # "the returns page (https://…)": the words already say where
    text = _URL_AFTER_SITE.sub(r"\1", text)  # "our website: https://…" must not become "our website: our website"
    text = _BARE_URL.sub("our website", text)
    text = _EMAIL.sub(lambda m: m.group(0).replace("@", " at ").replace(".", " dot "), text)
    text = _markdown_lines(text)
    text = _MONEY.sub(_money_words, text)
    text = _ISO_DATE.sub(_date_words, text)
    text = _ORDER_ID.sub(lambda m: "A, " + " ".join(m.group(1)), text)
    text = _SKU.sub(lambda m: "SKU " + " ".join(m.group(1).replace("-", "")), text)
    text = re.sub(r"\s+", " ", _LEFTOVER.sub(" ", text))
    return re.sub(r"\s+([.,?!:;])", r"\1", text).strip()


def _placeholder_words(m: re.Match[str]) -> str:
    """What to say instead of redacted data: the customer knows what they gave, the voice must not invent it."""
    return _PLACEHOLDER_WORDS.get(m.group(1) or m.group(2), "that detail")


def _markdown_lines(text: str) -> str:
    """One paragraph; a line that was a unit on screen (item, heading, row, paragraph end) becomes a sentence.

    Plain lines that merely wrap are joined without a stop, so a sentence broken across lines stays one sentence.
    """
    out: list[str] = []
    prev_block = brk = False
    for raw in text.splitlines():
        line, block = _strip_line(raw)
        if line is None:
            brk = True
            continue
        if out and (brk or block or prev_block):
            out[-1] = _close(out[-1])
        out.append(line)
        prev_block, brk = block, False
    if out and prev_block:
        out[-1] = _close(out[-1])
    return " ".join(out)


def _strip_line(raw: str) -> tuple[str | None, bool]:
    """(spoken text, whether the line is a unit of its own); None for lines with nothing to say (rules, fences)."""
    if not raw.strip() or _SKIP_LINE.match(raw):
        return None, False
    block = True
    if m := _HEADING.match(raw):
        line = m.group(1)
    elif m := _BULLET.match(raw):
        line = m.group(1)
    elif raw.strip().startswith("|") or raw.strip().endswith("|"):
        line = ", ".join(c.strip() for c in raw.strip().strip("|").split("|") if c.strip())
    else:
        line, block = _QUOTE.sub("", raw), False
    line = _EMPHASIS.sub(r"\2", _STRONG.sub(r"\2", _CODE.sub(r"\1", line))).strip()
    return (line or None), block


def _close(line: str) -> str:
    """A full stop unless the line already ends in punctuation, so that the voice pauses between items."""
    return line if line.rstrip().endswith(tuple(_FINAL)) else line.rstrip() + "."


def _money_words(m: re.Match[str]) -> str:
    """`$12.50` as "12 dollars and 50 cents": a voice reads "$12.50" as "dollar twelve point five zero"."""
    one, many, one_sub, many_sub = _CURRENCY[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    cents = int((m.group(3) or "0").ljust(2, "0"))
    main = f"{whole} {one if whole == 1 else many}"
    sub = f"{cents} {one_sub if cents == 1 else many_sub}"
    return main if not cents else sub if not whole else f"{main} and {sub}"


def _date_words(m: re.Match[str]) -> str:
    """`2026-11-27` as "November 27, 2026"; anything that is not a real month/day is left alone."""
    year, month, day = (int(g) for g in m.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{_MONTHS[month - 1]} {day}, {year}"


def sentences(text: str) -> list[str]:
    """Spoken text split into sentences, so that TTS can start on the first while the rest is synthesised.

    A sentence ends at `.`, `?` or `!` before whitespace or the end; "e.g.", "Dr." and the like do not end one,
    and decimals ("2.5") never match because no space follows their point.
    """
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        last_word = text[start:m.end()].split()[-1].lstrip("(\"'").lower()
        if last_word in _ABBREVIATIONS:
            continue
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def shorten(text: str, max_sentences: int = 3, max_chars: int = 320) -> str:
    """The first whole sentences that fit both limits: callers on a phone will not sit through a long answer.

    The first sentence is always kept; if it alone is too long it is cut at the last word boundary that fits and
    closed with "." (no "…": a voice cannot say it).
    """
    parts = sentences(text)
    if not parts:
        return ""
    first = parts[0]
    if len(first) > max_chars:
        window = first[:max_chars]
        cut = window.rfind(" ")
        head = window[:cut] if cut > 0 else window[: max_chars - 1]
        return head.rstrip(" ,;:-.?!") + "."
    kept = [first]
    for part in parts[1:max(max_sentences, 1)]:
        if len(" ".join(kept + [part])) > max_chars:
            break
        kept.append(part)
    return " ".join(kept)


def spoken_digits(text: str) -> str:
    """Runs of spoken digits in a transcript as digit strings, so the entity extractor finds numbers and order ids.

    A run is two or more digits ("double five" counts as two) with at least one real digit word, because a lone
    "one" is usually the word and "oh oh" an exclamation; "a"/"ay" before exactly five digits is an order id.
    """
    words = list(re.finditer(r"[^\s-]+", text))
    out: list[str] = []
    pos = i = 0
    while i < len(words):
        digits, end, tail = _digit_run(words, i)
        real = any(_core(w.group())[0] in _REAL_DIGITS for w in words[i:end])
        if len(digits) < 2 or not real:
            i += 1
            continue
        start = words[i].start()
        if i > 0 and len(digits) == 5 and words[i - 1].group().lower() in ("a", "ay"):
            start, digits = words[i - 1].start(), "A" + digits
        out += [text[pos:start], digits + tail]
        pos, i = words[end - 1].end(), end
    out.append(text[pos:])
    return "".join(out)


def _core(word: str) -> tuple[str, str]:
    """A word lowercased without trailing punctuation, and that punctuation (kept, and it ends a digit run)."""
    core = word.rstrip(".,?!;:")
    return core.lower(), word[len(core):]


def _digit_run(words: list[re.Match[str]], i: int) -> tuple[str, int, str]:
    """(digits, index after the run, trailing punctuation) for the digit words starting at `words[i]`."""
    digits = tail = ""
    while i < len(words) and not tail:
        core, punct = _core(words[i].group())
        if core in _REPEATS and not punct and i + 1 < len(words) and _core(words[i + 1].group())[0] in _DIGIT_WORDS:
            nxt, tail = _core(words[i + 1].group())
            digits += _DIGIT_WORDS[nxt] * _REPEATS[core]
            i += 2
        elif core in _DIGIT_WORDS:
            digits, tail = digits + _DIGIT_WORDS[core], punct
            i += 1
        else:
            break
    return digits, i, tail
