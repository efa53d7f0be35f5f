"""Where the customer's voice comes from: a recording, a raw PCM stream, or the microphone.

Every source yields 30 ms frames of mono 16 kHz int16 (what the segmenter and recognizers take) and converts its
input once, in `voice.audio`. A recording can be replayed in wall-clock time (`realtime=True`), which is how tests
script a caller who talks over the bot.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from voice.audio import RATE, Audio, AudioError, from_pcm
from voice.segment import FRAME_MS, FRAME_SAMPLES, frames_of


class DeviceError(RuntimeError):
    """No usable audio device (or no PortAudio), with what to do instead."""


def open_sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise DeviceError(f"audio devices are unavailable ({exc}); install PortAudio (sudo apt-get install "
                          "libportaudio2) or use --input FILE.wav / --output FILE.wav") from None
    return sounddevice


class FileSource:
    """A recording as frames; with `realtime` each frame is released when it would have been spoken."""

    def __init__(self, audio: Audio, realtime: bool = False, tail_silence_s: float = 1.0) -> None:
        self.audio = audio.at(RATE)
        self.realtime = realtime
        self.tail_silence_s = tail_silence_s  # lets the last utterance end on silence, as on a phone line

    def frames(self) -> Iterator[np.ndarray]:
        samples = np.concatenate([self.audio.samples, np.zeros(int(self.tail_silence_s * RATE), dtype=np.int16)])
        started = time.monotonic()
        for i, frame in enumerate(frames_of(samples)):
            if self.realtime:
                delay = started + i * FRAME_MS / 1000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield frame


class PcmSource:
    """Raw little-endian PCM from a byte stream (a pipe, a socket file): converted chunk by chunk."""

    def __init__(self, stream: IO[bytes], rate: int = RATE, channels: int = 1, width: int = 2,
                 chunk_s: float = 0.24) -> None:
        from_pcm(b"", rate, channels, width)  # validates the format now, not mid-stream
        self.stream, self.rate, self.channels, self.width = stream, rate, channels, width
        self._chunk = max(1, int(chunk_s * rate)) * channels * width

    def frames(self) -> Iterator[np.ndarray]:
        pending = np.zeros(0, dtype=np.int16)
        while True:
            data = self.stream.read(self._chunk)
            if not data:
                break
            pending = np.concatenate([pending, from_pcm(data, self.rate, self.channels, self.width).at(RATE).samples])
            while len(pending) >= FRAME_SAMPLES:
                yield pending[:FRAME_SAMPLES]
                pending = pending[FRAME_SAMPLES:]
        if len(pending):
            yield np.pad(pending, (0, FRAME_SAMPLES - len(pending)))


class Microphone:
    """The default (or a named) input device through sounddevice; frames queue up while the bot is busy."""

    def __init__(self, device: int | str | None = None, max_queue_s: float = 120.0) -> None:
        sd = open_sounddevice()
        self._frames: queue.Queue[np.ndarray] = queue.Queue(maxsize=int(max_queue_s * 1000 / FRAME_MS))
        try:
            self._stream = sd.InputStream(samplerate=RATE, channels=1, dtype="int16", blocksize=FRAME_SAMPLES,
                                          device=device, callback=self._on_audio)
            self._stream.start()
        except Exception as exc:  # sounddevice.PortAudioError and ValueError for a bad device
            raise DeviceError(f"cannot open a microphone ({exc}); use --input FILE.wav instead") from None

    def _on_audio(self, data: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        try:
            self._frames.put_nowait(data[:, 0].copy())
        except queue.Full:  # the bot stalled for minutes: drop the oldest audio, never block the sound card
            self._frames.get_nowait()
            self._frames.put_nowait(data[:, 0].copy())

    def frames(self) -> Iterator[np.ndarray]:
        try:
            while True:
                yield self._frames.get()
        finally:
            self._stream.stop()
            self._stream.close()


__all__ = ["AudioError", "DeviceError", "FileSource", "Microphone", "PcmSource", "open_sounddevice"]
