from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import open_store


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "store.sqlite")
    yield s
    s.close()


@pytest.fixture(scope="session")
def kb():
    from bot.store.kb import KnowledgeBase

    return KnowledgeBase.load()
