"""Intent classifier: accuracy (held out, message sets, CLINC val), boundaries, API, speed, caching, fallback."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import numpy as np
import pytest

from bot.nlu import clinc
from bot.nlu import intents as I
from bot.nlu.normalize import normalize
from bot.taxonomy import INTENTS

from .boundary_cases import BOUNDARY_CASES
from .conftest import message_set, needs_clinc

OOS = "out_of_scope"


# ------------------------------------------------------------------------------------------- accuracy, held out


@pytest.fixture(scope="module")
def heldout_predictions() -> list[tuple[str, str, str]]:
    """Train on 80% of intents.yaml (+ CLINC train when present), predict the other 20%: (text, gold, predicted)."""
    from sklearn.model_selection import train_test_split

    mine = I.load_examples()
    train, test = train_test_split(mine, test_size=0.2, stratify=[y for _, y in mine], random_state=7)
    extra = I.clinc_training_examples() if clinc.available() else []
    model = I.IntentClassifier.train(train + extra, {"calibration_folds": 0})
    return [(t, y, model.top(t)[0]) for t, y in test]


def test_heldout_accuracy_on_own_examples(heldout_predictions):
    # English and the other languages are held to separate floors: the ~10-13 examples per intent and language leave
    # ~2 per intent and language in a 20% split, so a mixed figure would mostly measure how many of those there are.
    from bot.nlu.language import detect_language

    english = [g == p for t, g, p in heldout_predictions if detect_language(t)[0] == "en"]
    other = [g == p for t, g, p in heldout_predictions if detect_language(t)[0] != "en"]
    acc = sum(english) / len(english)
    assert acc >= 0.90, f"held-out accuracy, English {acc:.3f}"  # measured 0.92 (5-fold CV on the English lines 0.923)
    acc_other = sum(other) / len(other)
    assert acc_other >= 0.65, f"held-out accuracy, other languages {acc_other:.3f} on {len(other)}"  # measured 0.76


def test_heldout_every_intent_is_learned(heldout_predictions):
    by = Counter(g for _, g, _ in heldout_predictions)
    right = Counter(g for _, g, p in heldout_predictions if g == p)
    per_intent = {g: round(right[g] / n, 2) for g, n in by.items()}
    # measured: 0.79 (our own retail-adjacent out_of_scope negatives, the hardest class) to 1.0
    assert min(per_intent.values()) >= 0.75, per_intent


def test_heldout_false_out_of_scope_rate(heldout_predictions):
    store = [(g, p) for _, g, p in heldout_predictions if g != OOS]
    rate = sum(p == OOS for _, p in store) / len(store)
    assert rate <= 0.05, f"store messages classified out_of_scope: {rate:.3f}"  # measured ~0.02


@pytest.mark.parametrize(("name", "floor"), [("dev_messages", 0.88), ("holdout_messages", 0.92)])
def test_message_sets(classifier, name, floor):
    rows = message_set(name)
    wrong = [(t, g, classifier.top(t)[0]) for t, g in rows if classifier.top(t)[0] != g]
    acc = 1 - len(wrong) / len(rows)
    assert acc >= floor, f"{name}: accuracy {acc:.3f}; wrong: {wrong[:10]}"  # measured 0.93 / 0.98


# ---------------------------------------------------------------------------------------------- CLINC val (OOS)


@needs_clinc
def test_clinc_oos_val_recognised_as_out_of_scope(classifier):
    rows = clinc.load_clinc("oos_val")
    recall = sum(classifier.top(t)[0] == OOS for t, _ in rows) / len(rows)
    assert recall >= 0.84, f"oos_val recall {recall:.3f}"  # measured 0.88


@needs_clinc
def test_clinc_val_other_domains_recognised_as_out_of_scope(classifier):
    rows = [(t, y) for t, y in clinc.load_clinc("val") if y == OOS]
    recall = sum(classifier.top(t)[0] == OOS for t, _ in rows) / len(rows)
    assert recall >= 0.95, f"CLINC val not-ours recall {recall:.3f} on {len(rows)}"  # measured 0.968


@needs_clinc
def test_clinc_val_mapped_intents(classifier):
    rows = [(t, y) for t, y in clinc.load_clinc("val") if y != OOS]
    acc = sum(classifier.top(t)[0] == y for t, y in rows) / len(rows)
    assert acc >= 0.93, f"CLINC val order_status/greeting/goodbye/thanks accuracy {acc:.3f}"  # measured 0.99


# --------------------------------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(("text", "expected"), BOUNDARY_CASES)
def test_boundary_cases(classifier, text, expected):
    ranked = classifier.predict(text)
    assert ranked[0][0] == expected, f"{text!r}: {ranked[:3]}"


def test_order_id_spelling_does_not_matter(classifier):
    for text in ("where is A10234", "where is #10234", "where is order 10234", "where is order number 77777"):
        assert classifier.top(text)[0] == "order_status", text


# ---------------------------------------------------------------------------------------------------------- API


def test_predict_returns_every_intent_sorted_and_normalised(classifier):
    ranked = classifier.predict("I want to return my jacket")
    names = [n for n, _ in ranked]
    probs = [p for _, p in ranked]
    assert sorted(names) == sorted(INTENTS)
    assert probs == sorted(probs, reverse=True)
    assert abs(sum(probs) - 1.0) < 1e-6
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in probs)


@pytest.mark.parametrize(
    "text", ["", "   ", "🙂", "?!?", "A10234", "我的订单在哪里", "x" * 5000, "order " * 400]
)
def test_predict_handles_odd_input(classifier, text):
    ranked = classifier.predict(text)
    assert len(ranked) == len(INTENTS)
    assert abs(sum(p for _, p in ranked) - 1.0) < 1e-6


def test_untrained_intents_get_zero_probability(small_yaml):
    model = I.IntentClassifier.train(I.load_examples(small_yaml), {"calibration_folds": 0})
    ranked = dict(model.predict("where is my order"))
    assert set(ranked) == set(INTENTS)
    assert ranked["billing"] == 0.0 and ranked["order_status"] > 0.5


def test_fast_path_matches_sklearn():
    """predict() re-implements sklearn's analyzers and tf-idf; it must give the same decision values."""
    examples = I.load_examples()
    texts = [normalize(t) for t, _ in examples]
    labels = [y for _, y in examples]
    params = {**I.DEFAULT_PARAMS, "calibration_folds": 0}
    features, svc, _ = I._fit(texts, labels, params)
    model = I.IntentClassifier.train(examples, params)
    probe = texts[::40] + [normalize(t) for t in ("", "a", "x" * 30, "where is order #10234??", "我的订单")]
    reference = svc.decision_function(features.transform(probe))
    ours = np.array([model.logits(t) for t in probe])
    assert list(svc.classes_) == model.classes
    assert np.abs(reference - ours).max() < 1e-4


def test_training_is_reproducible(small_yaml):
    a = I.IntentClassifier.train(I.load_examples(small_yaml))
    b = I.IntentClassifier.train(I.load_examples(small_yaml))
    assert a.temperature == b.temperature
    assert np.array_equal(a.coef_t, b.coef_t)


def test_predict_latency(classifier):
    texts = ["where is my order A10234, it's been two weeks", "hi", "I want to return the jacket, it doesn't fit",
             "can I talk to a human please", "Ich möchte mit einem Menschen sprechen"] * 60
    for t in texts[:5]:
        classifier.predict(t)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        classifier.predict(t)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p50 = times[len(times) // 2]
    assert p50 < 1.0, f"predict p50 {p50:.3f} ms"  # measured ~0.12 ms


def test_decide_thresholds():
    assert I.decide([("billing", 0.9), ("complaint", 0.1)]) == ("billing", 0.9, False)
    assert I.decide([("billing", 0.4), ("complaint", 0.3)]) == ("billing", 0.4, True)
    assert I.decide([("billing", 0.2), ("complaint", 0.1)])[0] == OOS
    assert 0 < I.OOS_BELOW < I.UNCERTAIN_BELOW < 1


def test_confident_predictions_are_mostly_right(classifier):
    """The top probability is a usable confidence: on the message sets, confident answers are right."""
    rows = message_set("dev_messages") + message_set("holdout_messages")
    confident = [(g, classifier.top(t)) for t, g in rows]
    above = [(g, p) for g, p in confident if p[1] >= I.UNCERTAIN_BELOW]
    assert len(above) >= 0.85 * len(rows)
    acc = sum(g == p[0] for g, p in above) / len(above)
    assert acc >= 0.95, f"accuracy above UNCERTAIN_BELOW: {acc:.3f}"


# ------------------------------------------------------------------------------------------------------ caching


@pytest.fixture
def fresh_memo():
    saved = dict(I._MEMO)
    I._MEMO.clear()
    yield
    I._MEMO.clear()
    I._MEMO.update(saved)


def _count_training(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = I.IntentClassifier.train.__func__

    def counting(cls, examples, params=None):
        calls.append(1)
        return real(cls, examples, params)

    monkeypatch.setattr(I.IntentClassifier, "train", classmethod(counting))
    return calls


def test_cache_is_written_and_reused(tmp_path, small_yaml, monkeypatch, fresh_memo):
    calls = _count_training(monkeypatch)
    first = I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    assert (tmp_path / I.CACHE_FILE).is_file() and len(calls) == 1
    I._MEMO.clear()  # as if in a new process
    second = I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    assert len(calls) == 1, "a valid cache must not be retrained"
    assert second is not first
    for text in ("where is my parcel", "hello!", "what's the weather"):
        assert first.top(text)[0] == second.top(text)[0]
        assert first.top(text)[1] == pytest.approx(second.top(text)[1], abs=1e-6)


def test_corrupt_cache_is_rebuilt(tmp_path, small_yaml, monkeypatch, fresh_memo, caplog):
    (tmp_path / I.CACHE_FILE).write_bytes(b"\x80\x04 definitely not a model")
    calls = _count_training(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="bot.nlu.intents"):
        model = I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    assert len(calls) == 1 and "unreadable" in caplog.text
    assert model.top("where is my order")[0] == "order_status"
    reloaded = I.IntentClassifier.load(tmp_path / I.CACHE_FILE)  # the rebuilt cache is valid
    assert reloaded.classes == model.classes


def test_truncated_cache_is_rebuilt(tmp_path, small_yaml, monkeypatch, fresh_memo):
    I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    path = tmp_path / I.CACHE_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    I._MEMO.clear()
    calls = _count_training(monkeypatch)
    I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    assert len(calls) == 1


def test_changed_training_data_invalidates_cache(tmp_path, small_yaml, monkeypatch, fresh_memo):
    I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    I._MEMO.clear()
    small_yaml.write_text(small_yaml.read_text() + "      how is the traffic\n", encoding="utf-8")
    calls = _count_training(monkeypatch)
    I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False)
    assert len(calls) == 1


def test_concurrent_load_trains_once(tmp_path, small_yaml, monkeypatch, fresh_memo):
    calls = _count_training(monkeypatch)
    results: list[I.IntentClassifier] = []
    errors: list[BaseException] = []

    def worker():
        try:
            results.append(I.IntentClassifier.load_or_train(tmp_path, yaml_path=small_yaml, use_clinc=False))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    assert len(calls) == 1 and all(r is results[0] for r in results)


def test_unwritable_cache_dir_still_works(tmp_path, small_yaml, fresh_memo, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="bot.nlu.intents"):
        model = I.IntentClassifier.load_or_train(blocker / "cache", yaml_path=small_yaml, use_clinc=False)
    assert model.top("hello")[0] == "greeting"
    assert "could not write" in caplog.text


# ---------------------------------------------------------------------------------------------- no CLINC file


def test_training_without_clinc_file_falls_back_to_yaml(tmp_path, monkeypatch, fresh_memo, caplog):
    monkeypatch.setenv("BOT_CLINC_PATH", str(tmp_path / "missing" / "clinc.json"))
    with caplog.at_level(logging.WARNING, logger="bot.nlu.intents"):
        model = I.IntentClassifier.load_or_train(tmp_path / "cache")
    assert "CLINC150 not found" in caplog.text
    assert model.meta["clinc"] is False
    assert model.meta["n_examples"] == len(I.load_examples())
    assert model.top("where is my order A10234")[0] == "order_status"
    assert model.top("I want my money back")[0] == "return_refund"
    assert model.top("what's the weather like today")[0] == OOS
    # once the file shows up the key changes and the model is rebuilt with it
    assert I.cache_key(None, tmp_path / "missing" / "clinc.json") != I.cache_key(None, clinc.CLINC_PATH)
