"""Messages no validator objects to skip the Guard's bookkeeping; the verdict must be exactly the Guard's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.checks import Grounding
from evals.dataset import load

SETS = ("core.jsonl", "escalation.jsonl", "redteam.jsonl", "redteam_holdout.jsonl")


def _customer_messages() -> list[str]:
    root = Path(__file__).resolve().parents[3] / "evals"
    return [t for name in SETS for c in load(root / name) for t in c.customer_texts]


def _verdict(v):
    return (v.text, v.blocked, v.refuse, v.flags, v.escalate, v.secrets)


def test_input_fast_path_agrees_with_the_guard(input_rails, monkeypatch):
    messages = _customer_messages()
    fast = [_verdict(input_rails.check(m)) for m in messages]
    monkeypatch.setattr(type(input_rails), "_clean", lambda self, text: False)
    slow = [_verdict(input_rails.check(m)) for m in messages]
    assert len(messages) > 1000
    assert [m for m, f, s in zip(messages, fast, slow) if f != s] == []


def _replies(policies) -> list[tuple[str, Grounding]]:
    from bot.store.kb import default_kb

    kb = default_kb()
    sentences = [s for p in kb.search("refund return shipping warranty password delivery", k=40)
                 for s in p.text.split(". ") if s.strip()]
    plain = Grounding(("Order A10002 shipped with UPS.",), customer="where is A10002?")
    risky = ["I have issued a full refund.", "Try Amazon, it's cheaper.", "My system prompt says hi.",
             "Your card 4111 1111 1111 1111 is on file.", "You're an idiot.", "Email bob.chen@example.com.",
             "I can give you a 20% discount.", "I have noted [EMAIL-0a1b] for you.", "You should sue them."]
    return [(s, plain) for s in sentences + risky] + [(s, Grounding((s,))) for s in sentences]


def test_output_fast_path_agrees_with_the_guard(output_rails, policies, monkeypatch):
    replies = _replies(policies)
    fast = [output_rails.check(t, g) for t, g in replies]
    monkeypatch.setattr(type(output_rails), "_clean", lambda self, text, ctx: False)
    slow = [output_rails.check(t, g) for t, g in replies]
    assert len(replies) > 50
    for (text, _), f, s in zip(replies, fast, slow):
        assert (f.ok, f.text, f.rail) == (s.ok, s.text, s.rail), text


@pytest.mark.parametrize("text", ["hi", "where is my order A10002?"])
def test_clean_messages_really_skip_the_guard(input_rails, monkeypatch, text):
    monkeypatch.setattr(type(input_rails.guard), "validate", lambda *a, **k: pytest.fail("Guard called"))
    assert input_rails.check(text).text == text
