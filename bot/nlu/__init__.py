"""Local natural-language understanding: intent, sentiment, entities and language of one customer message.

Usage::

    nlu = NLU(cache_dir=settings.data_dir / "nlu")   # cheap: nothing is loaded yet
    nlu.warm()                                        # optional: load everything now (~0.1 s from cache, ~3 s cold)
    a = nlu.analyze("where is order #10234??")
    a.intent, a.confidence, a.uncertain              # "order_status", 0.9..., False
    a.entities["order_ids"]                          # ["A10234"]

Loading is lazy: the classifier (from ``cache_dir``, or trained and cached there on first use), the VADER analyzer
and the lingua detector are each built on first need, thread-safely, and shared by every thread. Call
:meth:`NLU.warm` at start-up so the first customer turn does not pay for it (a cold start trains the classifier, ~3 s;
a warm start unpickles it, ~0.1 s; lingua needs ~1.5 s either way to load its models).

One :meth:`NLU.analyze` call costs well under a millisecond (p50 ~0.4 ms on the CI machine; the classifier alone
~0.15 ms), see bot/nlu/README.md for the measurements, the training data and the recommended thresholds.

Modules: :mod:`.intents` (classifier), :mod:`.clinc` (CLINC150 mapping), :mod:`.normalize`, :mod:`.sentiment`,
:mod:`.entities`, :mod:`.language`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from bot.nlu import registry
from bot.nlu.clarity import CLEAR_ABOVE, clarity
from bot.nlu.entities import extract as extract_entities
from bot.nlu.intents import OOS_BELOW, OUT_OF_SCOPE, UNCERTAIN_BELOW, IntentClassifier, decide
from bot.nlu.language import detect_language
from bot.nlu.language import warm as _warm_language
from bot.nlu.sentiment import sentiment as score_sentiment
from bot.nlu.sentiment import warm as _warm_sentiment
from bot.rails.placeholders import sample_view

__all__ = [
    "Analysis",
    "NLU",
    "IntentClassifier",
    "decide",
    "UNCERTAIN_BELOW",
    "OOS_BELOW",
    "OUT_OF_SCOPE",
    "detect_language",
    "extract_entities",
    "score_sentiment",
]


@dataclass(frozen=True)
class Analysis:
    """Everything the NLU knows about one message."""

    intents: list[tuple[str, float]]  # classifier output: every taxonomy intent, probabilities sum to 1, sorted
    sentiment: float  # VADER compound in [-1, 1]
    entities: dict[str, list[str]]  # order_ids, emails, phones, amounts, skus
    language: str  # ISO 639-1, "en" unless there is real evidence of another language
    language_confidence: float
    clarity: float = 1.0  # 0 = keyboard mash or filler, 1 = every content word known (see bot.nlu.clarity)

    @property
    def intent(self) -> str:
        """The most likely intent (the raw argmax; see :attr:`uncertain`)."""
        return self.intents[0][0]

    @property
    def confidence(self) -> float:
        """Probability of :attr:`intent`."""
        return self.intents[0][1]

    @property
    def uncertain(self) -> bool:
        """True when the top probability is below :data:`UNCERTAIN_BELOW` (treat as low confidence)."""
        return self.confidence < UNCERTAIN_BELOW


class NLU:
    """Facade over the classifier, sentiment, entities and language detection. Thread-safe; share one instance."""

    def __init__(self, cache_dir: Path, *, clinc_path: Path | None = None, yaml_path: Path | None = None,
                 model: Path | None = None) -> None:
        """Remember where the classifier cache lives. Nothing is loaded until :meth:`warm` or :meth:`analyze`.

        `model` pins one saved model file (``BOT_INTENT_MODEL``; `bot train` compares models this way); without it the
        bot runs the model `bot train` activated in `cache_dir` (:mod:`bot.nlu.registry`), else the shipped one.
        """
        self.cache_dir = Path(cache_dir)
        self._clinc_path = clinc_path
        self._yaml_path = yaml_path
        self._pinned = Path(model) if model is not None else None
        self._classifier: IntentClassifier | None = None
        self._active: tuple[int, int] | None = None  # signature of the active.json the classifier was loaded for
        self.model_source = "shipped"  # shipped | retrained <file> | pinned <file>
        self._lock = threading.Lock()

    @property
    def classifier(self) -> IntentClassifier:
        """The intent classifier, loaded on first access and again when `bot train` activates another one."""
        clf = self._classifier
        if self._pinned is not None:
            if clf is None:
                with self._lock:
                    if self._classifier is None:
                        self._classifier = IntentClassifier.load(self._pinned)
                        self.model_source = f"pinned {self._pinned}"
                    clf = self._classifier
            return clf
        active = registry.signature(self.cache_dir)
        if clf is None or active != self._active:
            with self._lock:
                if self._classifier is None or active != self._active:
                    self._classifier = self._load(active)
                clf = self._classifier
        return clf

    @property
    def pinned(self) -> bool:
        """True when one model file is pinned (``BOT_INTENT_MODEL``): activations do not apply."""
        return self._pinned is not None

    def _load(self, active: tuple[int, int] | None) -> IntentClassifier:
        shipped = IntentClassifier.load_or_train(self.cache_dir, yaml_path=self._yaml_path,
                                                 clinc_path=self._clinc_path)
        self._active, self.model_source = active, "shipped"
        if active is None:
            return shipped
        found = registry.load_active(self.cache_dir, shipped.meta.get("cache_key") or self.base_key())
        if found is None:
            return shipped
        model, record = found
        self.model_source = f"retrained {record.model}"
        return model

    def base_key(self) -> str:
        """The cache key of the shipped model (what a retrained model must have been trained beside)."""
        from bot.nlu import clinc
        from bot.nlu.intents import cache_key

        return cache_key(self._yaml_path, self._clinc_path if self._clinc_path is not None else clinc.clinc_path())

    def warm(self) -> None:
        """Load the classifier, VADER and lingua now so that the first turn is fast."""
        self.classifier
        _warm_sentiment()
        _warm_language()

    def analyze(self, text: str) -> Analysis:
        """Intent distribution, sentiment, entities and language of one customer message."""
        text = text or ""
        words = sample_view(text)  # placeholders read as ordinary values of their kind; entities keep the placeholders
        language, language_confidence = detect_language(words)
        classifier = self.classifier  # once: each access looks at the activation record
        return Analysis(
            intents=classifier.predict(words),
            sentiment=score_sentiment(words),
            entities=extract_entities(text),
            language=language,
            language_confidence=language_confidence,
            clarity=clarity(words, classifier.known_words) if language == "en" else 1.0,
        )
