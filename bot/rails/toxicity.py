"""Offensive-language probability from alt-profanity-check, computed in microseconds instead of milliseconds.

alt-profanity-check ships a TF-IDF vectorizer and a calibrated linear SVM trained on ~200k human-labelled messages.
Its own `predict_proba` costs ~8 ms per message in scikit-learn's input validation; the model is linear, so this
module reads the same weights once and scores a message with a dictionary lookup per word: identical probabilities
(a test compares them on hundreds of messages), ~0.05 ms. That keeps the input rails inside their 2 ms budget.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


class ProfanityModel:
    """P(offensive) for one message, from alt-profanity-check's own vectorizer vocabulary, idf and SVM weights."""

    def __init__(self) -> None:
        from profanity_check import profanity_check as upstream  # loads the two joblib files (~0.3 s)

        vectorizer, model = upstream.vectorizer, upstream.model
        params = vectorizer.get_params()
        if params["ngram_range"] != (1, 1) or params["analyzer"] != "word":
            raise RuntimeError("alt-profanity-check's vectorizer changed shape; the fast path needs unigrams")
        self._upstream = upstream
        self._analyze = vectorizer.build_analyzer()
        self._sublinear = bool(params["sublinear_tf"])
        self._norm = params["norm"]
        idf = vectorizer.idf_ if params["use_idf"] else np.ones(len(vectorizer.vocabulary_))
        members = model.calibrated_classifiers_
        coef = np.stack([c.estimator.coef_.ravel() for c in members], axis=1)  # (vocab, members)
        self._intercepts = [float(c.estimator.intercept_[0]) for c in members]
        self._calibration = [(float(c.calibrators[0].a_), float(c.calibrators[0].b_)) for c in members]
        self._terms = {term: (float(idf[i]), coef[i].tolist()) for term, i in vectorizer.vocabulary_.items()}

    def probability(self, text: str) -> float:
        counts: dict[str, int] = {}
        for token in self._analyze(text):
            if token in self._terms:
                counts[token] = counts.get(token, 0) + 1
        scores = list(self._intercepts)
        if counts:
            weights = {t: (1 + math.log(n) if self._sublinear else n) * self._terms[t][0] for t, n in counts.items()}
            if self._norm == "l2":
                length = math.sqrt(sum(w * w for w in weights.values()))
            elif self._norm == "l1":
                length = sum(abs(w) for w in weights.values())
            else:
                length = 1.0
            for term, weight in weights.items():
                for k, c in enumerate(self._terms[term][1]):
                    scores[k] += c * weight / length
        probs = [1.0 / (1.0 + math.exp(a * s + b)) for s, (a, b) in zip(scores, self._calibration)]
        return sum(probs) / len(probs)

    def reference(self, texts: list[str]) -> list[float]:
        """The library's own (slow) answer, for the equivalence test."""
        return [float(p) for p in self._upstream.predict_prob(texts)]


@lru_cache(maxsize=1)
def profanity_model() -> ProfanityModel:
    return ProfanityModel()
