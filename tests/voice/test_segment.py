"""voice.segment: utterances are found in real speech; noise, hum and long silence make no turns."""

from __future__ import annotations

import numpy as np
import pytest

from tests.voice.conftest import call
from voice.segment import FRAME_SAMPLES, Segmenter, SegmenterConfig, frames_of, split


def test_three_utterances_separated_by_pauses(say):
    recording = call(0.5, say("where is my order"), 1.2, say("it has not arrived"), 1.0, say("thank you"), 0.3)
    found = split(recording.samples)
    assert len(found) == 3
    starts = [u.start_s for u in found]
    assert starts[0] == pytest.approx(0.5, abs=0.25)
    assert all(a.end_s < b.start_s for a, b in zip(found, found[1:]))
    assert all(not u.forced for u in found)


def test_a_short_pause_inside_a_sentence_does_not_end_the_turn(say):
    recording = call(0.3, say("my order"), 0.25, say("has not arrived"), 1.0)
    assert len(split(recording.samples)) == 1


@pytest.mark.parametrize("kind", ["white noise", "clipping", "mains hum"])
def test_noise_is_not_speech(kind):
    rng = np.random.default_rng(7)
    n = 16_000 * 5
    samples = {
        "white noise": rng.normal(0, 3000, n),
        "clipping": np.clip(rng.normal(0, 30_000, n), -32768, 32767),
        "mains hum": 9000 * np.sin(2 * np.pi * 50 * np.arange(n) / 16_000),
    }[kind].astype(np.int16)
    assert split(samples) == []


def test_thirty_minutes_of_silence_gives_no_turn():
    assert split(np.zeros(16_000 * 60 * 30, dtype=np.int16)) == []


def test_an_endless_utterance_is_closed_at_the_limit(say):
    talk = call(*[say("and another thing about my order") for _ in range(4)])  # no pauses, ~8 s
    found = split(talk.samples, SegmenterConfig(max_utterance_s=3.0))
    assert found[0].forced and found[0].seconds == pytest.approx(3.0, abs=0.1)
    assert len(found) >= 2


def test_start_event_comes_with_the_preroll_and_end_with_the_whole_utterance(say):
    segmenter = Segmenter()
    events = []
    for frame in frames_of(call(0.6, say("hello there"), 1.0).samples):
        events += segmenter.feed(frame)
    assert [e.kind for e in events] == ["start", "end"]
    start, end = events
    assert len(start.utterance.samples) >= FRAME_SAMPLES * 5  # the first syllable is not cut off
    assert end.utterance.seconds > start.utterance.seconds
    assert end.at_s - end.utterance.end_s == pytest.approx(0.7, abs=0.1)  # ended after the policy's silence
