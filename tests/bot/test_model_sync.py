"""bot/model_sync.py on SQLite and PostgreSQL: a model `bot train` activated on one host is run by the others (two
data directories sharing one database), rollbacks follow, a corrupt copy in the database is refused, and a database
that never saw `bot train` changes nothing."""

from __future__ import annotations

import logging
import shutil

import pytest

from bot.model_sync import ModelSync, publish
from bot.nlu import NLU, registry
from bot.nlu.intents import CACHE_FILE, IntentClassifier
from bot.persistence import Database

TINY = [("zorp zorp", "billing"), ("zorp bill", "billing"), ("flim flam", "greeting"), ("flim hello", "greeting")]


@pytest.fixture
def hosts(tmp_path, shared_nlu, db_url):
    """Two hosts' data directories (the shipped model cached in each) and the database they share."""
    dirs = []
    for name in ("host-a", "host-b"):
        directory = tmp_path / name / "nlu"
        directory.mkdir(parents=True)
        shutil.copy(shared_nlu.cache_dir / CACHE_FILE, directory / CACHE_FILE)
        dirs.append(directory)
    db = Database(db_url)
    yield dirs[0], dirs[1], db
    db.close()


def _activate(directory, label: str):
    model = IntentClassifier.train([(t, label if y == "billing" else y) for t, y in TINY],
                                   params={"calibration_folds": 0})
    return registry.activate(directory, registry.save_candidate(directory, model), NLU(directory).base_key(), {})


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_another_hosts_activation_and_rollback_are_followed(hosts):
    a, b, db = hosts
    clock = Clock()
    sync, nlu_b = ModelSync(db, b, every_s=30, clock=clock), NLU(b)
    sync.check()  # nothing published yet: nothing changes
    assert registry.read_active(b) is None and nlu_b.analyze("zorp zorp").intent != "billing"

    first = _activate(a, "billing")
    publish(db, a)
    sync.check()  # within 30 s of the last look: not yet
    assert registry.read_active(b) is None
    clock.now = 31
    sync.check()
    assert registry.read_active(b).sha256 == first.sha256
    assert nlu_b.analyze("zorp zorp").intent == "billing" and nlu_b.model_source.startswith("retrained trained/")

    second = _activate(a, "complaint")
    publish(db, a)
    clock.now = 62
    sync.check()
    assert registry.read_active(b).sha256 == second.sha256 and nlu_b.analyze("zorp zorp").intent == "complaint"

    registry.rollback(a)
    publish(db, a)
    clock.now = 93
    sync.check()
    assert registry.read_active(b).sha256 == first.sha256 and nlu_b.analyze("zorp zorp").intent == "billing"
    registry.rollback(a)  # to the shipped model
    publish(db, a)
    clock.now = 124
    sync.check()
    assert registry.read_active(b) is None and nlu_b.analyze("zorp zorp").intent != "billing"


def test_a_corrupt_copy_in_the_database_is_refused_and_the_host_keeps_its_model(hosts, caplog):
    a, b, db = hosts
    _activate(b, "complaint")  # host b's own choice, before any publication
    mine = registry.read_active(b)
    bad = _activate(a, "billing")
    publish(db, a)
    with db.transaction() as conn:
        conn.execute("UPDATE intent_models SET model = ? WHERE sha256 = ?", (b"not a model", bad.sha256))
    with caplog.at_level(logging.WARNING, logger="bot.model_sync"):
        ModelSync(db, b, every_s=0).check()
    assert registry.read_active(b).sha256 == mine.sha256
    assert any("does not match its SHA-256" in r.getMessage() for r in caplog.records)
    assert not list((b / registry.TRAINED).glob("*.part"))


def test_an_engine_follows_the_database_on_its_turns(hosts, settings_on):
    from bot.engine import Engine
    from tests.fakes import FakeLLM

    a, b, _ = hosts
    engine = Engine.from_settings(settings_on, FakeLLM().client(), nlu=NLU(b))  # the hosts' database
    try:
        engine.model_sync.every_s = 0
        assert engine.turn(engine.start("cust-1"), "zorp zorp").intent != "billing"
        _activate(a, "billing")
        publish(engine.db, a)
        assert engine.turn(engine.start("cust-1"), "zorp zorp").intent == "billing"
    finally:
        engine.close()
