"""The real Guards (guardrails-ai validators, presidio, alt-profanity-check), built once for the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def rails(policies, tmp_path_factory):
    from bot.rails.guards import build_rails
    from graphs.prompts import SYSTEM, VOTE_SYSTEM

    return build_rails(policies, (SYSTEM, VOTE_SYSTEM), cache_dir=tmp_path_factory.mktemp("rails"),
                       pii_key=b"test-key")


@pytest.fixture(scope="session")
def input_rails(rails):
    return rails[0]


@pytest.fixture(scope="session")
def output_rails(rails):
    return rails[1]
