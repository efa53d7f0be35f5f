"""Phrase matching for policies: what a compliance person writes in YAML, compiled once into one regular expression.

Entries are plain phrases (matched case-insensitively on word boundaries, whitespace-insensitive) or regular
expressions written `re:...`. Everything is matched against the normalised text (NFKC, casefolded, straight quotes,
whitespace collapsed), so a policy never has to spell out capitalisation or spacing variants.
"""

from __future__ import annotations

import re
import unicodedata


def normalize(text: str) -> str:
    """The form every matcher sees: NFKC, casefolded, curly quotes straightened, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split())


class PhraseSet:
    """Case-insensitive phrase matcher on word boundaries; entries starting with `re:` are regular expressions."""

    def __init__(self, phrases: list[str]) -> None:
        self.phrases = list(phrases)
        parts = []
        for phrase in phrases:
            if phrase.startswith("re:"):
                parts.append(f"(?:{phrase[3:]})")
            else:
                words = [re.escape(w) for w in normalize(phrase).split()]
                parts.append(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")
        self._regex = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def find(self, text: str) -> str | None:
        """The first matching excerpt of normalised `text`, or None."""
        if self._regex is None:
            return None
        match = self._regex.search(normalize(text))
        return match.group(0) if match else None
