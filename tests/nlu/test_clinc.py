"""CLINC150 mapping: path resolution, mapping, exclusions, and that training never touches the val split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.nlu import clinc
from bot.nlu import intents as I
from bot.taxonomy import INTENTS

from .conftest import needs_clinc


def test_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_CLINC_PATH", str(tmp_path / "c.json"))
    assert clinc.clinc_path() == tmp_path / "c.json"
    monkeypatch.delenv("BOT_CLINC_PATH")
    assert clinc.clinc_path() == PROJECT_ROOT.parent / "shared" / "data" / "clinc150" / "clinc150_train_val.json"


def test_mapping():
    assert clinc.map_intent("order_status") == "order_status"
    assert clinc.map_intent("greeting") == "greeting"
    assert clinc.map_intent("goodbye") == "goodbye"
    assert clinc.map_intent("thank_you") == "thanks"
    assert clinc.map_intent("weather") == "out_of_scope"
    assert clinc.map_intent("oos") == "out_of_scope"
    for name in ("yes", "no", "maybe", "cancel", "repeat", "report_fraud", "card_declined", "damaged_card",
                 "transactions", "order", "what_can_i_ask_you", "are_you_a_bot", "user_name", "change_language"):
        assert clinc.map_intent(name) is None, name
    assert set(clinc.MAPPED.values()) <= set(INTENTS)


def test_every_exclusion_is_documented():
    doc = clinc.__doc__ or ""
    missing = [name for name in clinc.EXCLUDED if f"``{name}``" not in doc]
    assert not missing, f"exclusions without a documented reason: {missing}"


@needs_clinc
def test_names_exist_in_clinc():
    domains = json.loads((clinc.clinc_path().parent / "domains.json").read_text())
    known = {i for intents in domains.values() for i in intents}
    assert set(clinc.EXCLUDED) <= known
    assert set(clinc.MAPPED) <= known


@needs_clinc
def test_load_clinc_drops_exclusions():
    raw = clinc.load_raw("train")
    mapped = clinc.load_clinc("train")
    excluded = sum(1 for _, i in raw if i in clinc.EXCLUDED)
    assert excluded > 0 and len(mapped) == len(raw) - excluded
    assert set(y for _, y in mapped) == {"order_status", "greeting", "goodbye", "thanks", "out_of_scope"}
    assert all(y == "out_of_scope" for _, y in clinc.load_clinc("oos_val"))


@needs_clinc
def test_training_reads_only_training_splits(monkeypatch):
    seen: list[str] = []
    real = clinc.load_raw

    def spy(split, path=None):
        seen.append(split)
        return real(split, path)

    monkeypatch.setattr(clinc, "load_raw", spy)
    data = I.clinc_training_examples()
    assert seen and set(seen) <= set(clinc.TRAINING_SPLITS)
    counts = Counter(y for _, y in data)
    # out-of-scope is downsampled so it does not swamp the store intents
    assert counts["out_of_scope"] <= (len(clinc.load_raw("train")) // 100) * I.CLINC_OOS_PER_INTENT + 100
    assert counts["order_status"] == 100 and counts["thanks"] == 100


def test_missing_file_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError):
        clinc.load_clinc("train", tmp_path / "nope.json")
    assert not clinc.available(tmp_path / "nope.json")
    with pytest.raises(ValueError):
        clinc.load_clinc("test", tmp_path / "nope.json")


def test_small_file(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": [["hi", "greeting"], ["yep", "yes"], ["rain?", "weather"]], "val": [],
                                "oos_train": [["huh", "oos"]], "oos_val": []}))
    assert clinc.load_clinc("train", path) == [("hi", "greeting"), ("rain?", "out_of_scope")]
    assert clinc.load_clinc("oos_train", path) == [("huh", "out_of_scope")]
