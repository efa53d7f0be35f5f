"""Where the bot's voice goes: a WAV file, the speaker, or a virtual speaker that keeps time like a real one.

A sink takes whole sentences (`play`, which never blocks), says whether it is still sounding (`playing`), and can be
silenced at once (`stop`): that is barge-in. The file sink is never "playing": a file has no listener to interrupt.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from voice.audio import Audio, write_wav


class Sink(Protocol):
    def play(self, audio: Audio) -> None: ...
    @property
    def playing(self) -> bool: ...
    def stop(self) -> float: ...  # seconds of queued speech that were cut off
    def close(self) -> None: ...


class WavSink:
    """Collects the spoken replies in order, with a short pause between turns, and writes one WAV on close."""

    def __init__(self, path: str | Path, rate: int = 22_050, gap_s: float = 0.4) -> None:
        self.path = Path(path)
        self.rate = rate
        self.gap_s = gap_s
        self.parts: list[Audio] = []
        self.playing = False

    def play(self, audio: Audio) -> None:
        self.parts.append(audio.at(self.rate))

    def end_turn(self) -> None:
        if self.parts:
            self.parts.append(Audio.silence(self.gap_s, self.rate))

    def stop(self) -> float:
        return 0.0

    def close(self) -> None:
        write_wav(self.path, Audio.concat(self.parts, self.rate))


class VirtualSpeaker:
    """Plays in wall-clock time without a sound card: `playing` is true while the queued speech would be sounding.

    Used by tests (barge-in with a scripted caller) and by `bot voice --input … --realtime`. It records what a
    listener actually heard, so a test can see where playback was cut.
    """

    def __init__(self, clock: "callable[[], float]" = time.monotonic) -> None:  # type: ignore[valid-type]
        self._clock = clock
        self._ends_at = 0.0
        self._queue: list[tuple[float, Audio]] = []  # (start time, audio)
        self.heard_s = 0.0
        self.stops = 0
        self._lock = threading.Lock()

    def play(self, audio: Audio) -> None:
        with self._lock:
            start = max(self._clock(), self._ends_at)
            self._queue.append((start, audio))
            self._ends_at = start + audio.seconds

    @property
    def playing(self) -> bool:
        return self._clock() < self._ends_at

    def stop(self) -> float:
        with self._lock:
            now = self._clock()
            cut = max(0.0, self._ends_at - now)
            self.heard_s += sum(min(a.seconds, max(0.0, now - start)) for start, a in self._queue)
            self._queue.clear()
            self._ends_at = now
            self.stops += 1 if cut else 0
            return cut

    def close(self) -> None:
        with self._lock:
            self.heard_s += sum(a.seconds for _, a in self._queue)
            self._queue.clear()


class Speaker:
    """The sound card, through sounddevice (PortAudio): a callback pulls queued samples; `stop` empties the queue."""

    def __init__(self, rate: int = 22_050, device: int | str | None = None) -> None:
        from voice.sources import open_sounddevice

        sd = open_sounddevice()
        self.rate = rate
        self._buffer = np.zeros(0, dtype=np.int16)
        self._lock = threading.Lock()
        try:
            self._stream = sd.OutputStream(samplerate=rate, channels=1, dtype="int16", device=device,
                                           callback=self._fill)
            self._stream.start()
        except Exception as exc:  # sounddevice.PortAudioError: no output device, busy device
            from voice.sources import DeviceError

            raise DeviceError(f"cannot open the speaker ({exc}); use --output FILE.wav instead") from None

    def _fill(self, out: np.ndarray, frames: int, _time: object, _status: object) -> None:
        with self._lock:
            chunk, self._buffer = self._buffer[:frames], self._buffer[frames:]
        out[: len(chunk), 0] = chunk
        out[len(chunk):, 0] = 0

    def play(self, audio: Audio) -> None:
        with self._lock:
            self._buffer = np.concatenate([self._buffer, audio.at(self.rate).samples])

    @property
    def playing(self) -> bool:
        return len(self._buffer) > 0

    def stop(self) -> float:
        with self._lock:
            cut = len(self._buffer) / self.rate
            self._buffer = np.zeros(0, dtype=np.int16)
        return cut

    def close(self) -> None:
        deadline = time.monotonic() + len(self._buffer) / self.rate + 0.5
        while self.playing and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stream.stop()
        self._stream.close()
