"""Unicode confusables folded to the ASCII letters they imitate ("іgnоrе" with Cyrillic і/о/е → "ignore").

Transliteration is not enough: anyascii turns Cyrillic "ѕ" into "dz" and "у" into "u", the sounds, while an attacker
uses them for their looks ("s", "y"). The look-alike table is Unicode's own confusables data, as packaged by
confusable-homoglyphs; only characters that imitate a single ASCII letter or digit are folded.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _table() -> dict[int, str]:
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[int, str] = {}
    for char, alikes in data.items():
        if len(char) != 1 or char.isascii():
            continue
        for alike in alikes:
            target = alike.get("c", "")
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[ord(char)] = target.lower()
                break
    return table


def fold_confusables(text: str) -> str:
    """`text` with every look-alike of an ASCII letter or digit replaced by that letter (other characters kept)."""
    if text.isascii():
        return text
    return text.translate(_table())
