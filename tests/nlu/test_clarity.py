"""Keyboard mash and filler are recognised as not understandable; short real messages are not."""

from __future__ import annotations

import pytest

from bot.nlu.clarity import CLEAR_ABOVE, clarity


@pytest.mark.parametrize("text", ["asdkjh qwe", "jjjjjjj", "flooble the wozzle", "hmm", "the thing", "???", "idk",
                                  "so about that", "you know what I mean", "lkjlkj ;;;"])
def test_unclear(shared_nlu, text):
    assert clarity(text, shared_nlu.classifier.known_words) < CLEAR_ABOVE


@pytest.mark.parametrize("text", ["hi", "ok", "yes", "no", "thx", "A10002", "it's A10002", "bob@example.com",
                                  "where is my order", "kill my subscription", "the blender is broken",
                                  "my lamp flickers", "agent"])
def test_clear(shared_nlu, text):
    assert clarity(text, shared_nlu.classifier.known_words) >= CLEAR_ABOVE


def test_analysis_carries_clarity_for_english_only(shared_nlu):
    assert shared_nlu.analyze("flooble the wozzle").clarity < CLEAR_ABOVE
    assert shared_nlu.analyze("Ich möchte meine Bestellung stornieren, bitte").clarity == 1.0
