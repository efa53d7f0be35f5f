"""bot/nlu/registry.py: which intent model runs. A retrained model is used only while active.json names it, its file
is intact and it was trained beside the running shipped model; otherwise the shipped model runs (with a warning)."""

from __future__ import annotations

import logging
import shutil

import pytest

from bot.nlu import NLU, registry
from bot.nlu.intents import CACHE_FILE, IntentClassifier

TINY = [("zorp zorp", "billing"), ("zorp bill", "billing"), ("flim flam", "greeting"), ("flim hello", "greeting")]


@pytest.fixture
def nlu_dir(tmp_path, shared_nlu):
    directory = tmp_path / "nlu"
    directory.mkdir()
    shutil.copy(shared_nlu.cache_dir / CACHE_FILE, directory / CACHE_FILE)
    return directory


def _tiny(label: str) -> IntentClassifier:
    return IntentClassifier.train([(t, label if y == "billing" else y) for t, y in TINY],
                                  params={"calibration_folds": 0})


def test_activation_is_picked_up_and_rolled_back_in_order(nlu_dir):
    nlu = NLU(nlu_dir)
    assert nlu.analyze("zorp zorp").intent != "billing" and nlu.model_source == "shipped"
    first = registry.activate(nlu_dir, registry.save_candidate(nlu_dir, _tiny("billing")), nlu.base_key(), {"n": 1})
    assert nlu.analyze("zorp zorp").intent == "billing" and nlu.model_source == f"retrained {first.model}"
    second = registry.activate(nlu_dir, registry.save_candidate(nlu_dir, _tiny("complaint")), nlu.base_key(), {})
    assert nlu.analyze("zorp zorp").intent == "complaint" and second.info["previous"]["model"] == first.model
    assert registry.rollback(nlu_dir).model == first.model and nlu.analyze("zorp zorp").intent == "billing"
    assert registry.rollback(nlu_dir) is None
    assert nlu.analyze("zorp zorp").intent != "billing" and nlu.model_source == "shipped"
    with pytest.raises(ValueError, match="nothing to roll back"):
        registry.rollback(nlu_dir)


@pytest.mark.parametrize("damage", ["tampered", "other_base", "missing", "broken_record"])
def test_a_model_that_must_not_run_falls_back_to_the_shipped_one(nlu_dir, caplog, damage):
    nlu = NLU(nlu_dir)
    path = registry.save_candidate(nlu_dir, _tiny("billing"))
    registry.activate(nlu_dir, path, "another-base" if damage == "other_base" else nlu.base_key(), {})
    if damage == "tampered":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "missing":
        path.unlink()
    elif damage == "broken_record":
        (nlu_dir / registry.ACTIVE).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="bot.nlu.registry"):
        assert nlu.analyze("zorp zorp").intent != "billing"
    assert nlu.model_source == "shipped"
    assert any("shipped" in r.getMessage() for r in caplog.records)


def test_a_pinned_model_ignores_activation(nlu_dir, tmp_path):
    pinned = tmp_path / "pinned.npz"
    _tiny("complaint").save(pinned)
    nlu = NLU(nlu_dir, model=pinned)
    registry.activate(nlu_dir, registry.save_candidate(nlu_dir, _tiny("billing")), NLU(nlu_dir).base_key(), {})
    assert nlu.analyze("zorp zorp").intent == "complaint" and nlu.model_source == f"pinned {pinned}"
