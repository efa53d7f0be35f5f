"""Local intent classifier: TF-IDF n-grams + a linear SVM with calibrated softmax probabilities.

Training data
    ``bot/nlu/data/intents.yaml`` (written for this project, all 15 intents) plus the CLINC150 *train* and
    *oos_train* splits mapped by :mod:`bot.nlu.clinc`. CLINC's out-of-scope intents are downsampled to
    ``CLINC_OOS_PER_INTENT`` utterances each (stratified, fixed seed): about 2,900 out-of-scope sentences against
    ~300-500 per store intent, which teaches the boundary without drowning the store intents (class weights are
    balanced on top). CLINC *val* / *oos_val* are never used for fitting. When the CLINC file is missing the
    classifier is trained on intents.yaml alone and a warning is logged.

Model (chosen by measurement, see bot/nlu/README.md)
    :func:`~bot.nlu.normalize.normalize` -> word 1-2-gram TF-IDF + char_wb 2-5-gram TF-IDF (sublinear tf, each
    l2-normalised) -> ``LinearSVC(C=0.5, class_weight="balanced")``. Probabilities are ``softmax(margin / T)``
    with a single temperature ``T`` fitted by minimising the log-loss of 3-fold out-of-fold margins, so the top
    probability is an honest confidence. LinearSVC beat multinomial logistic regression on every measurement
    (cross-validated accuracy, out-of-scope recall, the dev set) and trains ~5x faster.

Speed
    sklearn is only used to fit. The fitted model is exported as plain data (vocabularies, idf vectors, the weight
    matrix), and :meth:`IntentClassifier.predict` re-implements the two analyzers, tf-idf weighting and l2
    normalisation, then gathers only the touched rows of the weight matrix: the same numbers as sklearn's
    ``transform`` + ``decision_function`` (checked in tests) in ~0.15 ms instead of ~1.3 ms, and loading the cache
    takes ~30 ms because it never imports sklearn.

Out-of-scope handling
    ``out_of_scope`` is a class of its own. In addition the top probability is a confidence signal; see
    :data:`UNCERTAIN_BELOW` / :data:`OOS_BELOW` and :func:`decide`.

Caching
    :meth:`IntentClassifier.load_or_train` saves the fitted model into ``cache_dir/intent_classifier.npz`` (numpy
    arrays + a JSON header, loaded with ``allow_pickle=False``, so a tampered cache cannot run code) with a key made
    of the training files' bytes, this package's source and the sklearn/numpy/scipy versions. A cache with another
    key, or one that cannot be read, is rebuilt. Writes are atomic (temp file + rename); an in-process lock and memo
    make concurrent calls from several threads train at most once and share one instance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml

from bot.nlu import clinc
from bot.nlu.normalize import normalize
from bot.taxonomy import INTENTS

log = logging.getLogger(__name__)

#: Bump to invalidate every cached model (the cache key also hashes this package's source files).
CODE_VERSION = "2"

DATA_PATH = Path(__file__).resolve().parent / "data" / "intents.yaml"
CACHE_FILE = "intent_classifier.npz"

OUT_OF_SCOPE = "out_of_scope"

#: Out-of-scope CLINC utterances kept per CLINC intent (127 CLINC intents are out of scope after the exclusions).
CLINC_OOS_PER_INTENT = 20
#: Seed for the CLINC downsampling and the calibration folds (training is reproducible).
SEED = 13

#: Top probability below which the prediction should be treated as uncertain (low confidence): ask the customer to
#: rephrase, or count it towards a `low_confidence` handoff. Measured (bot/nlu/README.md): ~3.7% of store messages
#: fall below it, and ~95% of those at or above it are classified correctly (~93% overall).
UNCERTAIN_BELOW = 0.5
#: Top probability below which the message may be treated as out of scope outright: ~0.8% of store messages fall
#: below it and most of them were misclassified anyway; out-of-scope recall on CLINC val stays ~0.965.
OOS_BELOW = 0.3

DEFAULT_PARAMS: dict[str, Any] = {
    "C": 0.5,
    "word_ngrams": (1, 2),
    "char_ngrams": (2, 5),
    "min_df": 1,
    "sublinear_tf": True,
    "class_weight": "balanced",
    "oos_weight": 1.0,  # extra multiplier on the balanced weight of out_of_scope
    "calibration_folds": 3,  # 0 = skip calibration and use `temperature`
    "temperature": 0.3,
}


# ------------------------------------------------------------------------------------------------------------ data


def load_examples(path: Path | None = None) -> list[tuple[str, str]]:
    """(text, intent) pairs from intents.yaml, in file order. Unknown intent names are an error."""
    p = Path(path) if path is not None else DATA_PATH
    with open(p, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    out: list[tuple[str, str]] = []
    for intent, body in (doc.get("intents") or {}).items():
        if intent not in INTENTS:
            raise ValueError(f"{p}: intent {intent!r} is not in the taxonomy {INTENTS}")
        for line in str(body.get("examples") or "").splitlines():
            line = line.strip()
            if line:
                out.append((line, intent))
    return out


def clinc_training_examples(
    path: Path | None = None, per_intent: int = CLINC_OOS_PER_INTENT, seed: int = SEED
) -> list[tuple[str, str]]:
    """CLINC *train* + *oos_train* mapped onto our intents, out-of-scope intents downsampled to `per_intent` each.

    The mapped store intents (order_status, greeting, goodbye, thanks) are kept whole. Raises FileNotFoundError when
    the CLINC file is absent.
    """
    rng = random.Random(seed)
    by_clinc: dict[str, list[str]] = defaultdict(list)
    for text, intent in clinc.load_raw("train", path):
        by_clinc[intent].append(text)
    out: list[tuple[str, str]] = []
    for intent in sorted(by_clinc):
        ours = clinc.map_intent(intent)
        if ours is None:
            continue
        texts = by_clinc[intent]
        if ours == OUT_OF_SCOPE and len(texts) > per_intent:
            texts = rng.sample(texts, per_intent)
        out.extend((t, ours) for t in texts)
    out.extend(clinc.load_clinc("oos_train", path))
    return out


def training_data(
    yaml_path: Path | None = None, clinc_path: Path | None = None, use_clinc: bool = True
) -> list[tuple[str, str]]:
    """Everything the shipped classifier is trained on (see the module docstring)."""
    data = load_examples(yaml_path)
    if use_clinc:
        try:
            data += clinc_training_examples(clinc_path)
        except FileNotFoundError:
            log.warning(
                "CLINC150 not found at %s (set BOT_CLINC_PATH); training the intent classifier on intents.yaml only",
                clinc_path or clinc.clinc_path(),
            )
    return data


# ----------------------------------------------------------------------------------------------------------- model


def _build_features(params: dict[str, Any]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    common = {
        "lowercase": False,  # normalize() already did it
        "sublinear_tf": params["sublinear_tf"],
        "min_df": params["min_df"],
        "dtype": np.float32,
    }
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(params["word_ngrams"]),
                                     token_pattern=r"(?u)\b\w+\b", **common)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(params["char_ngrams"]), **common)),
        ]
    )


def _class_weights(labels: Sequence[str], params: dict[str, Any]) -> dict[str, float] | str | None:
    cw = params["class_weight"]
    if cw != "balanced":
        return cw
    counts = Counter(labels)
    weights = {c: len(labels) / (len(counts) * n) for c, n in counts.items()}
    if OUT_OF_SCOPE in weights:
        weights[OUT_OF_SCOPE] *= float(params.get("oos_weight", 1.0))
    return weights


def _fit(texts: Sequence[str], labels: Sequence[str], params: dict[str, Any],
         weights: Sequence[float] | None = None):
    """Fit features + LinearSVC on normalised texts (`weights`: per example, e.g. agents' corrections count more).
    Returns (features, svc, n_features)."""
    from sklearn.svm import LinearSVC

    features = _build_features(params)
    X = features.fit_transform(texts)
    svc = LinearSVC(C=params["C"], class_weight=_class_weights(labels, params), random_state=SEED)
    svc.fit(X, labels, sample_weight=None if weights is None else np.asarray(weights, dtype=np.float64))
    return features, svc, X.shape[1]


def _margins(features, svc, texts: Sequence[str]) -> np.ndarray:
    d = svc.decision_function(features.transform(texts))
    return np.column_stack([-d, d]) if d.ndim == 1 else d


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _fit_temperature(texts: list[str], labels: list[str], classes: list[str], params: dict[str, Any]) -> float:
    """Temperature minimising the log-loss of out-of-fold margins (k-fold, stratified)."""
    from scipy.optimize import minimize_scalar
    from sklearn.model_selection import StratifiedKFold

    counts = Counter(labels)
    folds = min(int(params["calibration_folds"]), min(counts.values()))
    if folds < 2 or len(counts) < 2:
        return float(params["temperature"])
    y = np.array([classes.index(label) for label in labels])
    oof = np.zeros((len(texts), len(classes)), dtype=np.float64)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for tr, te in skf.split(np.zeros(len(y)), y):
        tr_labels = [labels[i] for i in tr]
        features, svc, _ = _fit([texts[i] for i in tr], tr_labels, params)
        m = _margins(features, svc, [texts[i] for i in te])
        fold_classes = list(svc.classes_)
        cols = np.full((len(te), len(classes)), -1e3)  # a class absent from the fold gets a hopeless margin
        for j, c in enumerate(fold_classes):
            cols[:, classes.index(c)] = m[:, j]
        oof[te] = cols

    def nll(log_t: float) -> float:
        p = _softmax(oof / math.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    res = minimize_scalar(nll, bounds=(math.log(0.01), math.log(10.0)), method="bounded")
    return float(math.exp(res.x))


_TOKEN = re.compile(r"(?u)\b\w+\b")  # the word vectorizer's token_pattern


def _word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """sklearn's word analyzer for our settings (token_pattern above, no stop words), reimplemented."""
    tokens = _TOKEN.findall(text)
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


def _char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """sklearn's ``char_wb`` analyzer, reimplemented (n-grams inside space-padded words)."""
    out: list[str] = []
    for w in text.split():
        w = f" {w} "
        w_len = len(w)
        for n in range(lo, hi + 1):
            if n >= w_len:
                out.append(w)  # a word shorter than n is counted once, and no longer n-grams are made
                break
            out.extend(w[i : i + n] for i in range(w_len - n + 1))
    return out


_ANALYZERS = {"word": _word_ngrams, "char_wb": _char_wb_ngrams}


@dataclass
class _Part:
    """One fitted TF-IDF vectorizer as plain data: its analyzer, vocabulary and idf weights."""

    analyzer: str  # "word" | "char_wb"
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray  # float32
    sublinear_tf: bool
    offset: int  # column of this part's first feature in the stacked feature space

    @classmethod
    def from_vectorizer(cls, vec: Any, offset: int) -> "_Part":
        return cls(
            analyzer=vec.analyzer,
            ngram_range=tuple(vec.ngram_range),
            vocabulary={str(k): int(v) for k, v in vec.vocabulary_.items()},
            idf=np.asarray(vec.idf_, dtype=np.float32),
            sublinear_tf=bool(vec.sublinear_tf),
            offset=offset,
        )

    def weights(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(column indices, l2-normalised tf-idf values) of `text`, or None when no n-gram is known."""
        counts: dict[int, int] = {}
        get = self.vocabulary.get
        for gram in _ANALYZERS[self.analyzer](text, *self.ngram_range):
            j = get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return None
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        if self.sublinear_tf:
            tf = np.log(tf) + np.float32(1.0)
        w = tf * self.idf[idx]
        w /= np.sqrt(np.dot(w, w))
        return idx + self.offset, w


@dataclass
class IntentClassifier:
    """A fitted classifier. Build with :meth:`train` or :meth:`load_or_train`; use :meth:`predict`.

    Holds only numpy arrays and dicts (no sklearn objects), so loading it from the cache does not import sklearn.
    """

    parts: list[_Part]
    coef_t: np.ndarray  # (n_features, n_classes) float32
    intercept: np.ndarray  # (n_classes,) float64
    classes: list[str]  # trained classes, column order of coef_t
    temperature: float
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ training

    @classmethod
    def train(cls, examples: Iterable[tuple[str, str]], params: dict[str, Any] | None = None,
              weights: Sequence[float] | None = None) -> "IntentClassifier":
        """Fit on (text, intent) pairs. A taxonomy intent absent from `examples` gets probability 0. `weights`, one
        per example, make some examples count more in the fit (the calibration stays unweighted)."""
        p = {**DEFAULT_PARAMS, **(params or {})}
        t0 = time.perf_counter()
        pairs = [(normalize(t), y) for t, y in examples]
        texts = [t for t, _ in pairs]
        labels = [y for _, y in pairs]
        if len(set(labels)) < 2:
            raise ValueError("need examples of at least two intents to train a classifier")
        if weights is not None and len(weights) != len(texts):
            raise ValueError(f"{len(weights)} weights for {len(texts)} examples")
        features, svc, n_features = _fit(texts, labels, p, weights)
        classes = [str(c) for c in svc.classes_]
        if len(classes) == 2:  # LinearSVC keeps one hyperplane; give both classes a column
            coef = np.vstack([-svc.coef_[0], svc.coef_[0]])
            intercept = np.array([-svc.intercept_[0], svc.intercept_[0]])
        else:
            coef, intercept = svc.coef_, svc.intercept_
        temperature = _fit_temperature(texts, labels, classes, p) if p["calibration_folds"] else p["temperature"]
        parts, offset = [], 0
        for _, vec in features.transformer_list:
            parts.append(_Part.from_vectorizer(vec, offset))
            offset += len(vec.idf_)
        return cls(
            parts=parts,
            coef_t=np.ascontiguousarray(coef.T, dtype=np.float32),
            intercept=np.asarray(intercept, dtype=np.float64),
            classes=classes,
            temperature=float(temperature),
            meta={
                "params": p,
                "n_examples": len(texts),
                "class_counts": dict(Counter(labels)),
                "n_features": int(n_features),
                "train_seconds": round(time.perf_counter() - t0, 3),
            },
        )

    # ------------------------------------------------------------------ inference

    def logits(self, normalized: str) -> np.ndarray:
        """Decision values (before temperature and softmax) of an already-normalised text."""
        z = self.intercept.copy()
        for part in self.parts:
            hit = part.weights(normalized)
            if hit is not None:
                idx, w = hit
                z += w @ self.coef_t[idx]
        return z

    def _ranked(self, p: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(-p, kind="stable")
        out = [(self.classes[i], float(p[i])) for i in order]
        out.extend((c, 0.0) for c in INTENTS if c not in self.classes)  # untrained taxonomy intents
        return out

    @property
    def known_words(self) -> frozenset[str]:
        """Single words of the word-level vocabulary: every word the classifier saw in training."""
        cached = getattr(self, "_known_words", None)
        if cached is None:
            cached = frozenset(t for t in self.parts[0].vocabulary if " " not in t and not t.startswith("zz"))
            self._known_words = cached
        return cached

    def predict(self, text: str) -> list[tuple[str, float]]:
        """Every taxonomy intent with its probability (they sum to 1), most likely first."""
        return self._ranked(_softmax(self.logits(normalize(text)) / self.temperature))

    def predict_many(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """:meth:`predict` for several texts."""
        return [self.predict(t) for t in texts]

    def top(self, text: str) -> tuple[str, float]:
        """(intent, probability) of the most likely intent."""
        return self.predict(text)[0]

    # ------------------------------------------------------------------ serialisation

    def save(self, path: Path, key: str = "") -> None:
        """Write the model to `path` (.npz: arrays + a JSON header; no pickle)."""
        header = {
            "format": 1,
            "key": key,
            "classes": self.classes,
            "temperature": self.temperature,
            "meta": self.meta,
            "parts": [
                {"analyzer": p.analyzer, "ngram_range": list(p.ngram_range), "sublinear_tf": p.sublinear_tf,
                 "offset": p.offset}
                for p in self.parts
            ],
        }
        arrays: dict[str, np.ndarray] = {
            "header": np.array(json.dumps(header, default=str)),
            "coef_t": self.coef_t,
            "intercept": self.intercept,
        }
        for i, part in enumerate(self.parts):
            terms = [""] * len(part.vocabulary)
            for term, j in part.vocabulary.items():
                terms[j] = term
            blob = "\n".join(terms)  # normalised text never contains a newline
            if blob.count("\n") != max(0, len(terms) - 1):
                raise ValueError("a vocabulary term contains a newline")
            arrays[f"terms_{i}"] = np.frombuffer(blob.encode("utf-8"), dtype=np.uint8)
            arrays[f"idf_{i}"] = part.idf
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path, key: str | None = None) -> "IntentClassifier":
        """Read a model written by :meth:`save`. With `key`, raise KeyError when the stored key differs."""
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("format") != 1:
                raise ValueError(f"unknown model format {header.get('format')!r}")
            if key is not None and header.get("key") != key:
                raise KeyError("stale model (training data, code or library versions changed)")
            parts = []
            for i, ph in enumerate(header["parts"]):
                blob = z[f"terms_{i}"].tobytes().decode("utf-8")
                terms = blob.split("\n") if blob else []
                parts.append(_Part(
                    analyzer=ph["analyzer"],
                    ngram_range=tuple(ph["ngram_range"]),
                    vocabulary=dict(zip(terms, range(len(terms)))),
                    idf=np.asarray(z[f"idf_{i}"], dtype=np.float32),
                    sublinear_tf=bool(ph["sublinear_tf"]),
                    offset=int(ph["offset"]),
                ))
            model = cls(
                parts=parts,
                coef_t=np.ascontiguousarray(z["coef_t"], dtype=np.float32),
                intercept=np.asarray(z["intercept"], dtype=np.float64),
                classes=[str(c) for c in header["classes"]],
                temperature=float(header["temperature"]),
                meta=dict(header.get("meta") or {}),
            )
        if model.coef_t.shape != (sum(len(p.idf) for p in parts), len(model.classes)):
            raise ValueError("inconsistent model arrays")
        for p in parts:
            if p.analyzer not in _ANALYZERS:
                raise ValueError(f"unknown analyzer {p.analyzer!r}")
        return model

    # ------------------------------------------------------------------ caching

    @classmethod
    def load_or_train(
        cls,
        cache_dir: Path,
        *,
        yaml_path: Path | None = None,
        clinc_path: Path | None = None,
        use_clinc: bool = True,
    ) -> "IntentClassifier":
        """The shipped classifier: from `cache_dir` when the cache is valid, else trained and cached.

        `clinc_path` defaults to :func:`bot.nlu.clinc.clinc_path` (``$BOT_CLINC_PATH`` or ../shared/...). Thread-safe:
        concurrent callers for the same cache directory wait for one training run and share the result.
        """
        cache_dir = Path(cache_dir)
        if use_clinc and clinc_path is None:
            clinc_path = clinc.clinc_path()
        key = cache_key(yaml_path, clinc_path, use_clinc=use_clinc)
        memo_key = (str(cache_dir.resolve()), key)
        with _lock_for(memo_key[0]):
            hit = _MEMO.get(memo_key)
            if hit is not None:
                return hit
            path = cache_dir / CACHE_FILE
            model = _read_cache(path, key)
            if model is None:
                model = cls.train(training_data(yaml_path, clinc_path, use_clinc=use_clinc))
                model.meta["cache_key"] = key
                model.meta["clinc"] = bool(use_clinc and clinc_path is not None and Path(clinc_path).is_file())
                _write_cache(path, key, model)
            _MEMO[memo_key] = model
            return model


def decide(
    ranked: Sequence[tuple[str, float]],
    uncertain_below: float = UNCERTAIN_BELOW,
    oos_below: float = OOS_BELOW,
) -> tuple[str, float, bool]:
    """Recommended reading of :meth:`IntentClassifier.predict` output: ``(intent, probability, uncertain)``.

    The intent is ``out_of_scope`` when that class wins or when the top probability is below `oos_below`;
    `uncertain` is True when the top probability is below `uncertain_below` (callers may ask to rephrase or apply
    their low-confidence policy).
    """
    intent, p = ranked[0]
    if p < oos_below:
        intent = OUT_OF_SCOPE
    return intent, p, p < uncertain_below


# ----------------------------------------------------------------------------------------------------------- cache


_MEMO: dict[tuple[str, str], IntentClassifier] = {}
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(name, threading.Lock())


def _digest_file(h: Any, path: Path | None) -> None:
    if path is None or not Path(path).is_file():
        h.update(b"<absent>")
        return
    with open(path, "rb") as fh:
        h.update(fh.read())
    h.update(b"\0")


def cache_key(yaml_path: Path | None = None, clinc_path: Path | None = None, *, use_clinc: bool = True) -> str:
    """Hash of everything that determines the fitted model: data files, code, library versions."""
    from importlib.metadata import version  # no import of sklearn itself: that alone costs ~0.5 s

    h = hashlib.sha256()
    h.update(
        f"code={CODE_VERSION};sklearn={version('scikit-learn')};numpy={version('numpy')};scipy={version('scipy')};"
        f"clinc={use_clinc}\n".encode()
    )
    _digest_file(h, Path(yaml_path) if yaml_path is not None else DATA_PATH)
    if use_clinc:
        _digest_file(h, Path(clinc_path) if clinc_path is not None else clinc.clinc_path())
    here = Path(__file__).resolve().parent
    for src in ("intents.py", "clinc.py", "normalize.py"):
        _digest_file(h, here / src)
    return h.hexdigest()


def _read_cache(path: Path, key: str) -> IntentClassifier | None:
    if not path.is_file():
        return None
    try:
        return IntentClassifier.load(path, key)
    except KeyError:
        log.info("intent model cache %s is stale; retraining", path)
    except Exception as exc:  # corrupt, truncated, written by an incompatible version...
        log.warning("intent model cache %s is unreadable (%s: %s); retraining", path, type(exc).__name__, exc)
    return None


def _write_cache(path: Path, key: str, model: IntentClassifier) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            model.save(Path(tmp), key)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is not secret
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:  # a read-only cache dir must not break the bot
        log.warning("could not write intent model cache %s: %s", path, exc)
