"""Sentence-level buffering for streamed replies.

Output checks must see text before the customer does, and a number or a name can only be judged once the sentence
around it is complete. So tokens are held until a sentence ends, the sentence is checked, and only then released:
the first words reach the customer one sentence after generation starts, and a violation mid-stream never does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) and then whitespace, or at a newline.
# "49.99", "A10007." at the very end and "e.g." inside words are not split because a space must follow.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


class SentenceBuffer:
    """Feed text deltas in, get whole sentences out; `flush()` returns the unterminated rest."""

    def __init__(self, min_chars: int = 12) -> None:
        self._buf = ""
        self.min_chars = min_chars  # don't release "Hi." alone: join very short sentences with the next

    def feed(self, delta: str) -> Iterator[str]:
        self._buf += delta
        start = 0
        for match in _BOUNDARY.finditer(self._buf):
            if match.end() - start < self.min_chars:
                continue
            sentence = self._buf[start : match.end()]
            start = match.end()
            if sentence.strip():
                yield sentence
        self._buf = self._buf[start:]

    def flush(self) -> str:
        rest, self._buf = self._buf, ""
        return rest
