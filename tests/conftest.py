"""Shared fixtures: settings in a temporary directory, one trained NLU per session, engines over a fake LLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from bot.config import PROJECT_ROOT, Settings  # noqa: E402
from bot.policy import load_policies  # noqa: E402
from tests.fakes import FakeLLM  # noqa: E402


@pytest.fixture(scope="session")
def policies():
    return load_policies(PROJECT_ROOT / "guardrails")


@pytest.fixture(scope="session")
def shared_nlu(tmp_path_factory):
    from bot.nlu import NLU

    nlu = NLU(tmp_path_factory.mktemp("nlu-cache"))
    nlu.warm()
    return nlu


TEST_PII_KEY = "0f" * 32  # one placeholder key for every test's data directory: the rails are built once per process


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "pii.key").write_text(TEST_PII_KEY)
    return Settings(
        data_dir=tmp_path,
        db_url=f"sqlite:///{tmp_path / 'bot.sqlite'}",
        store_db=tmp_path / "store.sqlite",
    )


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server for this test process (tests/pg.py), stopped at the end of the session."""
    from tests.pg import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path: Path) -> str:
    """Each test that takes this runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.sqlite'}"
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def settings_on(settings: Settings, db_url: str) -> Settings:
    """The test's settings on each database (see `db_url`)."""
    import dataclasses

    return dataclasses.replace(settings, db_url=db_url)


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def make_engine(settings, shared_nlu):
    """Build engines on the test's settings (several may share one database, like two processes)."""
    from bot.engine import Engine

    made = []

    def make(llm: FakeLLM | None = None, settings_override: Settings | None = None, **overrides):
        client = llm.client() if llm is not None else None
        engine = Engine.from_settings(settings_override or settings, client, nlu=shared_nlu, **overrides)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def engine(make_engine, fake_llm):
    return make_engine(fake_llm)
