"""Where a customer's utterance starts and ends: voice activity per 30 ms frame, and end-of-turn on silence.

The per-frame speech decision is WebRTC's VAD as shipped inside pocketsphinx (C, no model download), narrowed by two
cheap spectral checks, because the VAD alone calls any loud sound speech: hiss and clipping noise are spectrally flat
(speech is not), and mains hum has its energy below the speech band. On top of that sits the turn logic a phone
line needs: speech starts after `start_ms` of mostly-speech frames (short clicks do not start a turn), a turn ends
after `end_silence_ms` without speech (a breath between words does not end it), audio from just before the start is
kept (the first syllable is not cut), and an utterance longer than `max_utterance_s` is closed anyway.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from pocketsphinx import Vad

from voice.audio import RATE

FRAME_MS = 30
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 480 samples, 960 bytes


@dataclass(frozen=True)
class SegmenterConfig:
    start_ms: int = 150  # this much speech (within twice the time) starts an utterance
    end_silence_ms: int = 700  # this much non-speech ends it
    preroll_ms: int = 300  # audio kept from before the start
    max_utterance_s: float = 20.0
    vad_mode: int = 2  # WebRTC aggressiveness 0..3
    max_flatness: float = 0.35  # spectral flatness above this is noise, not a voice
    min_band_share: float = 0.35  # share of energy that must lie in 200–4000 Hz


@dataclass
class Utterance:
    """One stretch of customer speech: its samples and where it lies in the stream (seconds)."""

    samples: np.ndarray
    start_s: float
    end_s: float
    forced: bool = False  # closed by max_utterance_s, not by silence

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


@dataclass
class SpeechEvent:
    kind: str  # "start" (speech began: barge-in point) | "end" (an utterance is complete)
    at_s: float
    utterance: Utterance | None = None  # "end": the whole utterance; "start": the audio so far (pre-roll included)


_WINDOW = np.hanning(FRAME_SAMPLES).astype(np.float32)
_FREQS = np.fft.rfftfreq(FRAME_SAMPLES, 1 / RATE)
_BAND = (_FREQS >= 200) & (_FREQS <= 4000)


def voiced(frame: np.ndarray, config: SegmenterConfig) -> bool:
    """The spectral half of the decision: not flat like noise, and energy where voices have it."""
    power = np.abs(np.fft.rfft(frame.astype(np.float32) * _WINDOW)) ** 2 + 1e-6
    flatness = float(np.exp(np.mean(np.log(power))) / np.mean(power))
    band_share = float(power[_BAND].sum() / power.sum())
    return flatness <= config.max_flatness and band_share >= config.min_band_share


@dataclass
class Segmenter:
    """Feed frames of 480 samples; get "start" and "end" events. Also usable on a whole file with `split`."""

    config: SegmenterConfig = field(default_factory=SegmenterConfig)

    def __post_init__(self) -> None:
        self._vad = Vad(self.config.vad_mode, RATE, FRAME_MS / 1000)
        self._start_frames = max(1, self.config.start_ms // FRAME_MS)
        self._end_frames = max(1, self.config.end_silence_ms // FRAME_MS)
        self._max_frames = int(self.config.max_utterance_s * 1000 / FRAME_MS)
        self.reset()

    def reset(self) -> None:
        self._frames = 0
        self._recent: deque[tuple[np.ndarray, bool]] = deque(maxlen=max(self._start_frames * 2,
                                                                       self.config.preroll_ms // FRAME_MS))
        self._speech: list[np.ndarray] | None = None
        self._silent = 0
        self._started_at = 0.0

    @property
    def in_speech(self) -> bool:
        return self._speech is not None

    def is_speech(self, frame: np.ndarray) -> bool:
        if not frame.any():
            return False
        return bool(self._vad.is_speech(frame.astype("<i2").tobytes())) and voiced(frame, self.config)

    def feed(self, frame: np.ndarray) -> list[SpeechEvent]:
        """One 30 ms frame in; the events it causes out (usually none)."""
        if len(frame) != FRAME_SAMPLES:
            frame = np.pad(frame[:FRAME_SAMPLES], (0, max(0, FRAME_SAMPLES - len(frame))))
        now = self._frames * FRAME_MS / 1000
        self._frames += 1
        speech = self.is_speech(frame)
        if self._speech is None:
            self._recent.append((frame, speech))
            window = list(self._recent)[-self._start_frames * 2:]
            if sum(s for _, s in window) < self._start_frames:
                return []
            keep = self.config.preroll_ms // FRAME_MS + self._start_frames
            self._speech = [f for f, _ in list(self._recent)[-keep:]]
            self._started_at = max(0.0, now + FRAME_MS / 1000 - len(self._speech) * FRAME_MS / 1000)
            self._silent = 0
            so_far = Utterance(np.concatenate(self._speech), self._started_at, now + FRAME_MS / 1000)
            return [SpeechEvent("start", now, so_far)]
        self._speech.append(frame)
        self._silent = 0 if speech else self._silent + 1
        if self._silent >= self._end_frames:
            return [self._close(now, forced=False)]
        if len(self._speech) >= self._max_frames:
            return [self._close(now, forced=True)]
        return []

    def flush(self) -> list[SpeechEvent]:
        """End of the stream: an utterance still open is complete."""
        if self._speech is None:
            return []
        return [self._close(self._frames * FRAME_MS / 1000, forced=False)]

    def _close(self, now: float, forced: bool) -> SpeechEvent:
        frames = self._speech or []
        if not forced:  # trailing silence is not part of what was said
            frames = frames[: len(frames) - self._silent] or frames
        samples = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
        utterance = Utterance(samples, self._started_at, self._started_at + len(samples) / RATE, forced)
        self._speech = None
        self._recent.clear()
        self._silent = 0
        return SpeechEvent("end", now, utterance)


def frames_of(samples: np.ndarray) -> Iterator[np.ndarray]:
    """A whole recording as 30 ms frames (the last one zero-padded)."""
    for i in range(0, len(samples), FRAME_SAMPLES):
        frame = samples[i:i + FRAME_SAMPLES]
        yield frame if len(frame) == FRAME_SAMPLES else np.pad(frame, (0, FRAME_SAMPLES - len(frame)))


def split(samples: np.ndarray, config: SegmenterConfig | None = None) -> list[Utterance]:
    """Every utterance in a recording, in order (what `bot voice --input` turns into customer turns)."""
    segmenter = Segmenter(config or SegmenterConfig())
    out = []
    for frame in frames_of(samples):
        out += [e.utterance for e in segmenter.feed(frame) if e.kind == "end" and e.utterance is not None]
    out += [e.utterance for e in segmenter.flush() if e.utterance is not None]
    return out
