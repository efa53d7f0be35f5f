"""A learned second opinion for the injection rail: the attacks the patterns do not spell out.

Patterns (guardrails/input_rails.yaml) are precise and reviewable, but attackers rephrase. This is the intent
classifier's model (word + character n-gram TF-IDF, linear SVM, calibrated; :mod:`bot.nlu.intents`) trained on two
classes:

* `attack` — bot/rails/data/attacks.yaml: instruction overrides, impersonated authority, role-play jailbreaks,
  prompt extraction, markup injection, other languages and obfuscation, dangerous requests; written for this
  project, never copied from the eval sets;
* `benign` — ordinary messages: bot/rails/data/benign.yaml (risky-looking but harmless customer messages), the
  bot's own intent training data and the CLINC150 *train* utterances (~15,000 real requests to assistants).

It scores every normalised view of a message (so encodings are undone first) and the rail blocks at the policy's
threshold. The fitted model is cached like the intent classifier (retrained when the data changes, ~10 s).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np
import yaml

from bot.nlu import clinc
from bot.nlu import intents as intent_model
from bot.nlu.normalize import normalize

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
CACHE_FILE = "attack_classifier.npz"
ATTACK, BENIGN = "attack", "benign"
CODE_VERSION = "1"
_LOCK = threading.Lock()
_MEMO: dict[str, "AttackModel"] = {}  # by training-data key: the same data gives the same model, any cache dir


def _messages(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(text) for texts in data.values() for text in texts or []]


def training_data(clinc_path: Path | None = None) -> list[tuple[str, str]]:
    attacks = [(t, ATTACK) for t in _messages(DATA_DIR / "attacks.yaml")]
    benign = [(t, BENIGN) for t in _messages(DATA_DIR / "benign.yaml")]
    benign += [(t, BENIGN) for t, _ in intent_model.load_examples()]
    try:
        benign += [(t, BENIGN) for t, _ in clinc.load_raw("train", clinc_path)]
        benign += [(t, BENIGN) for t, _ in clinc.load_raw("oos_train", clinc_path)]
    except FileNotFoundError:
        log.warning("CLINC150 not found; the attack classifier learns ordinary messages from the bot's data only")
    return attacks + benign


def cache_key(clinc_path: Path | None = None) -> str:
    h = hashlib.sha256(f"attack-model {CODE_VERSION} {intent_model.cache_key(use_clinc=False)}".encode())
    for path in (DATA_DIR / "attacks.yaml", DATA_DIR / "benign.yaml", clinc_path or clinc.clinc_path(),
                 Path(__file__)):
        h.update(Path(path).read_bytes() if Path(path).is_file() else b"<absent>")
    return h.hexdigest()


class AttackModel:
    """P(attack) of a message, as the highest score over its normalised views."""

    def __init__(self, classifier: intent_model.IntentClassifier) -> None:
        self.classifier = classifier
        self._column = classifier.classes.index(ATTACK)

    @classmethod
    def load_or_train(cls, cache_dir: Path) -> "AttackModel":
        key = cache_key()
        with _LOCK:
            if key in _MEMO:
                return _MEMO[key]
            path = Path(cache_dir) / CACHE_FILE
            classifier = intent_model._read_cache(path, key)
            if classifier is None:
                classifier = intent_model.IntentClassifier.train(training_data(), {"calibration_folds": 3})
                intent_model._write_cache(path, key, classifier)
            model = _MEMO[key] = cls(classifier)
            return model

    def probability(self, views: list[str]) -> float:
        best = 0.0
        for view in views:
            z = self.classifier.logits(normalize(view)) / self.classifier.temperature
            e = np.exp(z - z.max())
            best = max(best, float(e[self._column] / e.sum()))
        return best
