"""Fixtures for the NLU tests. The shipped classifier comes from the session-wide `shared_nlu` (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.nlu import clinc

DATA = Path(__file__).resolve().parent / "data"

needs_clinc = pytest.mark.skipif(
    not clinc.available(), reason=f"CLINC150 not found at {clinc.clinc_path()} (set BOT_CLINC_PATH)"
)


def message_set(name: str) -> list[tuple[str, str]]:
    """(text, intent) pairs of tests/nlu/data/<name>.yaml."""
    doc = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    return [(line.strip(), intent) for intent, block in doc.items() for line in str(block).splitlines() if line.strip()]


@pytest.fixture(scope="session")
def classifier(shared_nlu):
    """The shipped intent classifier (intents.yaml + CLINC train), trained once per test session."""
    return shared_nlu.classifier


@pytest.fixture
def small_yaml(tmp_path: Path) -> Path:
    """A tiny intents.yaml so cache tests train in a fraction of a second."""
    path = tmp_path / "intents.yaml"
    path.write_text(
        """version: 1
intents:
  order_status:
    examples: |
      where is my order
      track my package
      has my order shipped
      when will my parcel arrive
      order status please
      where is order A10234
  greeting:
    examples: |
      hi
      hello
      good morning
      hey there
      hello, anyone there?
      hiya
  out_of_scope:
    examples: |
      what's the weather
      tell me a joke
      who won the game
      write me a poem
      help with my taxes
      what time is it
""",
        encoding="utf-8",
    )
    return path
