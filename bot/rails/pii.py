"""Personal data: found with presidio's offline recognizers, replaced by placeholders, kept in a vault for the tools.

presidio-analyzer normally runs a spaCy NER model that has to be downloaded; here it runs on a blank spaCy
pipeline (tokenizer only) with its pattern recognizers, which need no model: credit cards (Luhn-checked), e-mail
addresses, phone numbers (Google's libphonenumber), IBANs (checksummed), US SSNs, plus the street-address patterns
of guardrails/pii.yaml. Names are not detected (that would need the NER model); the demo store never needs them.

The redaction happens at the door (:class:`bot.engine.Engine`), before the message reaches the checkpointer, the
conversation log, the handoff queue, the logs or any LLM. The raw values stay in :class:`Vault`, in process memory
only, so that a tool can still look an order up by the e-mail the guest gave.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from bot.rails import placeholders
from bot.rails.policy import PiiPolicy

log = logging.getLogger(__name__)

MAX_ANALYZED_CHARS = 20_000  # longer messages are refused by the input limits; the rest is cut, never stored raw

# Cheap pre-filters: a recognizer runs only when its kind of value could be in the message at all. libphonenumber
# tries every configured region on every digit run (~3 ms); most messages hold an order id and a date, no phone.
_MAYBE = {
    "PHONE_NUMBER": re.compile(r"\+?\(?\d[\d\s().-]{5,}\d"),
    "CREDIT_CARD": re.compile(r"\d(?:[\s-]?\d){12,18}"),
    "EMAIL_ADDRESS": re.compile(r"@"),
    "IBAN_CODE": re.compile(r"\b[A-Za-z]{2}\d{2}\s?[A-Za-z0-9]{4}"),
    "US_SSN": re.compile(r"\b\d{3}[\s.-]?\d{2}[\s.-]?\d{4}\b"),
    # a house number before a capitalised street name, or a street word before / after a number
    "STREET_ADDRESS": re.compile(r"\b\d{1,5}[A-Za-z]?\s+[A-ZÄÖÜ]"
                                 r"|[a-zäöüß](stra(ss|ß)e|str\.|weg|allee|platz|gasse)\s+\d"
                                 r"|\b([Cc]alle|[Aa]venida|[Rr]ue|[Vv]ia|[Pp]laza)\s"),
}


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


@dataclass(frozen=True)
class Found:
    kind: str  # placeholder kind: EMAIL, CARD, ...
    placeholder: str
    start: int
    end: int


@dataclass
class Redaction:
    text: str
    found: list[Found] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # placeholder -> raw value (for the vault only)


def _offline_tldextract() -> None:
    """presidio validates e-mail domains with tldextract, which fetches the public-suffix list from the internet on
    first use; point it at the snapshot bundled with the package instead (no network, no 10 s timeout)."""
    import tldextract
    import tldextract.tldextract as module

    module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tldextract.extract = module.TLD_EXTRACTOR


def _analyzer(policy: PiiPolicy):  # -> presidio_analyzer.AnalyzerEngine
    import spacy
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    class BlankSpacy(SpacyNlpEngine):
        """A spaCy engine with a tokenizer and no statistical model: nothing to download."""

        def __init__(self) -> None:
            self.nlp = {"en": spacy.blank("en")}
            self.models = [{"lang_code": "en", "model_name": "blank"}]
            self.ner_model_configuration = NerModelConfiguration()

        def load(self) -> None:
            return None

        def is_loaded(self) -> bool:
            return True

    _offline_tldextract()
    # presidio's card pattern knows only issuer prefixes 1, 3, 4, 50-55 and 6 and at most 16 digits: Mastercard's
    # 2-series (2221-2720), Maestro 56-58 and 17-19 digit cards passed raw. This one takes any 13-19 digits, in one
    # run or grouped as cards print them (4-4-4-4[-3], Amex 4-6-5, Diners 4-6-4); presidio Luhn-checks every match
    # (the output rail's and the eval's definition of a card number: `detectors._CARD`, `evals.metrics`).
    any_card = Pattern("card number (any issuer)", r"\b(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
                                                    r"|\d{4}([ -])\d{6}\2\d{4,5})\b", 0.3)
    builtin = {
        "CREDIT_CARD": lambda: CreditCardRecognizer(patterns=CreditCardRecognizer.PATTERNS + [any_card]),
        "EMAIL_ADDRESS": lambda: EmailRecognizer(),
        "PHONE_NUMBER": lambda: PhoneRecognizer(supported_regions=tuple(policy.phone_regions)),
        "IBAN_CODE": lambda: IbanRecognizer(),
        "US_SSN": lambda: UsSsnRecognizer(),
    }
    registry = RecognizerRegistry(supported_languages=["en"])
    for entity, kind in policy.kinds.items():
        if entity in builtin:
            registry.add_recognizer(builtin[entity]())
        if kind.patterns:
            registry.add_recognizer(PatternRecognizer(
                supported_entity=entity, name=f"{entity.lower()}_patterns",
                patterns=[Pattern(f"{entity.lower()}_{i}", p, 0.6) for i, p in enumerate(kind.patterns)],
            ))
    return AnalyzerEngine(registry=registry, nlp_engine=BlankSpacy(), supported_languages=["en"])


class Redactor:
    """Find personal data and replace it with placeholders keyed by a hash of the value."""

    def __init__(self, policy: PiiPolicy, key: bytes | None = None) -> None:
        self.policy = policy
        self._key = key or os.urandom(16)  # per process unless configured: placeholders are not reversible
        self._engine = _analyzer(policy)
        self._entities = list(policy.kinds)

    def placeholder(self, entity: str, value: str) -> str:
        digest = hmac.new(self._key, value.strip().lower().encode(), hashlib.sha256).hexdigest()
        return placeholders.make(self.policy.kinds[entity].placeholder, digest)

    @staticmethod
    def _plausible(entity: str, text: str) -> bool:
        if entity == "PHONE_NUMBER":
            return any(_digits(m.group(0)) >= 7 for m in _MAYBE[entity].finditer(text))
        return _MAYBE[entity].search(text) is not None

    def _candidates(self, text: str) -> list[str]:
        """The kinds of personal data `text` could hold at all (cheap patterns; presidio decides)."""
        if not any(ch.isdigit() or ch == "@" for ch in text):
            return []  # every kind we detect has a digit or an @ (most messages)
        return [e for e in self._entities if e not in _MAYBE or self._plausible(e, text)]

    def may_contain_pii(self, text: str) -> bool:
        return bool(self._candidates(text[:MAX_ANALYZED_CHARS]))

    def redact(self, text: str) -> Redaction:
        text = text[:MAX_ANALYZED_CHARS * 5]
        sample = text[:MAX_ANALYZED_CHARS]
        entities = self._candidates(sample)
        if not entities:
            return Redaction(text)
        results = self._engine.analyze(sample, language="en", entities=entities)
        kept = sorted(
            (r for r in results if r.score >= self.policy.kinds[r.entity_type].min_score),
            key=lambda r: (r.start, -(r.end - r.start)),
        )
        out, found, values, cursor = [], [], {}, 0
        for r in kept:
            if r.start < cursor:
                continue  # overlaps a longer or earlier finding
            raw = text[r.start:r.end]
            token = self.placeholder(r.entity_type, raw)
            out += [text[cursor:r.start], token]
            found.append(Found(self.policy.kinds[r.entity_type].placeholder, token, r.start, r.end))
            values[token] = raw
            cursor = r.end
        out.append(text[cursor:])
        return Redaction("".join(out), found, values)


def placeholder_key(directory: Path) -> bytes:
    """The key placeholders are made with, kept in `directory/pii.key` (created on first use, owner-only).

    One key per installation, so every process (chat, agent desk, workers) and every restart gives the same value
    the same placeholder; the key never leaves the machine and the placeholders cannot be reversed without it.
    """
    path = directory / "pii.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        directory.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex())
        return key


class LazyRedactor:
    """Only the PII redaction, built on first use (~1 s): what the agent desk needs from the rails."""

    def __init__(self, policy: PiiPolicy, key: bytes) -> None:
        self._policy, self._key = policy, key
        self._redactor: Redactor | None = None
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            if self._redactor is None:
                self._redactor = Redactor(self._policy, self._key)
        return self._redactor.redact(text).text if self._redactor.may_contain_pii(text) else text


class Vault:
    """Raw values behind placeholders, per conversation, in process memory only (bounded, least recent evicted).

    Nothing here is ever written down. After a restart (or in another worker) a placeholder cannot be revealed and
    the tool simply does not find the e-mail: the bot asks again, which is the safe failure.
    """

    def __init__(self, max_conversations: int = 10_000) -> None:
        self._data: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._max = max_conversations
        self._lock = threading.Lock()

    def keep(self, conversation_id: str, values: dict[str, str]) -> None:
        if not values:
            return
        with self._lock:
            self._data.setdefault(conversation_id, {}).update(values)
            self._data.move_to_end(conversation_id)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def reveal(self, conversation_id: str, text: str) -> str:
        """`text` with this conversation's placeholders replaced by the raw values (for a tool call only)."""
        values = self._data.get(conversation_id) or {}
        if not values or "[" not in text:
            return text
        return placeholders.PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)

    def conceal(self, conversation_id: str, text: str) -> str:
        """`text` with this conversation's raw values replaced by their placeholders (tool results going back in)."""
        for token, raw in (self._data.get(conversation_id) or {}).items():
            if raw and raw in text:
                text = text.replace(raw, token)
            elif raw.lower() in text.lower():
                start = text.lower().index(raw.lower())
                text = text[:start] + token + text[start + len(raw):]
        return text

    def forget(self, conversation_id: str) -> None:
        with self._lock:
            self._data.pop(conversation_id, None)
