"""The placeholder format that replaces personal data: `[EMAIL-3f9a]`, `[CARD-07c1]`, `[ADDRESS-9b2e]`.

Kept apart from the redactor (which needs presidio) because the NLU and the reply rails only need to recognise
placeholders, not to make them.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\[([A-Z]+)-([0-9a-f]{4})\]")

# What the classifier and the language detector see instead of a placeholder: a value of the same kind, so that a
# message reads to them exactly as the customer wrote it ("my email is name@example.com").
_SAMPLES = {
    "EMAIL": "name@example.com",
    "PHONE": "555 0100",
    "CARD": "card number",
    "ADDRESS": "12 Main Street",
    "IBAN": "bank account",
    "SSN": "id number",
}


def make(kind: str, digest: str) -> str:
    return f"[{kind}-{digest[:4]}]"


def kinds_in(text: str) -> list[tuple[str, str]]:
    """(placeholder, kind) for every placeholder in `text`, in order."""
    return [(m.group(0), m.group(1)) for m in PLACEHOLDER.finditer(text)]


def sample_view(text: str) -> str:
    """`text` with each placeholder replaced by a harmless value of its kind (for classifiers, never for storage)."""
    if "[" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: _SAMPLES.get(m.group(1), m.group(1).lower()), text)


def spoken(text: str, phrases: dict[str, str]) -> str:
    """`text` with each placeholder replaced by the words a customer reads ("the email address you gave")."""
    if "[" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: phrases.get(m.group(1), "the details you gave"), text)
