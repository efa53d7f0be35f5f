"""Audio as the rest of the voice pipeline sees it: mono 16-bit PCM at one known rate, in a numpy array.

Everything that enters (a WAV file, a raw PCM stream, the microphone) is converted here once, so the recognizers,
the segmenter and the sinks never deal with stereo, 8-bit or 44.1 kHz input. Bad input fails here with a message
that says what was wrong and what is accepted. Resampling uses scipy's polyphase filter (`audioop` is gone from
Python 3.13).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

RATE = 16_000  # what the recognizers and the segmenter work at
MAX_SECONDS = 4 * 3600  # a longer file is refused rather than loaded into memory


class AudioError(ValueError):
    """Audio that cannot be used, with the reason in words."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # int16, mono
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    def to_bytes(self) -> bytes:
        return self.samples.astype("<i2").tobytes()

    def at(self, rate: int) -> "Audio":
        return self if rate == self.rate else Audio(resample(self.samples, self.rate, rate), rate)

    @staticmethod
    def silence(seconds: float, rate: int = RATE) -> "Audio":
        return Audio(np.zeros(int(seconds * rate), dtype=np.int16), rate)

    @staticmethod
    def concat(parts: list["Audio"], rate: int) -> "Audio":
        arrays = [p.at(rate).samples for p in parts]
        return Audio(np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int16), rate)


def resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    """Polyphase resampling of int16 samples (anti-aliased), clipped back into int16."""
    if source == target or len(samples) == 0:
        return samples.astype(np.int16, copy=False)
    g = gcd(source, target)
    out = resample_poly(samples.astype(np.float32), target // g, source // g)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def from_pcm(data: bytes, rate: int, channels: int = 1, width: int = 2) -> Audio:
    """Raw interleaved PCM (unsigned 8-bit, or signed little-endian 16/24/32-bit) → mono int16 at `rate`."""
    if rate < 4000 or rate > 192_000:
        raise AudioError(f"unsupported sample rate {rate} Hz (4,000 to 192,000 Hz are accepted)")
    if channels < 1 or channels > 8:
        raise AudioError(f"unsupported channel count {channels} (1 to 8 are accepted)")
    if width not in (1, 2, 3, 4):
        raise AudioError(f"unsupported sample width {width * 8} bits (8, 16, 24 or 32 are accepted)")
    frame = channels * width
    usable = len(data) - len(data) % frame
    raw = np.frombuffer(data[:usable], dtype=np.uint8)
    if width == 1:
        ints = (raw.astype(np.int16) - 128) << 8  # 8-bit WAV is unsigned
    elif width == 2:
        ints = raw.view("<i2")
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        ints = ((triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)) << 8 >> 16).astype(np.int16)
    else:
        ints = (raw.view("<i4") >> 16).astype(np.int16)
    if channels > 1:  # down-mix: the mean of the channels
        ints = ints.reshape(-1, channels).astype(np.int32).mean(axis=1).astype(np.int16)
    return Audio(np.asarray(ints, dtype=np.int16), rate)


def read_wav(source: str | Path | bytes, rate: int = RATE) -> Audio:
    """A WAV file (path or bytes) as mono int16 at `rate`; `AudioError` says why a file cannot be used."""
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        handle = wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb")
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{name}: is a directory, not a WAV file") from None
    except (wave.Error, EOFError) as exc:
        reason = str(exc) or "the header is cut short"
        raise AudioError(f"{name}: not a readable WAV file ({reason}); expected RIFF/WAVE with PCM samples") from None
    with handle:
        channels, width, source_rate, frames = (handle.getnchannels(), handle.getsampwidth(),
                                                handle.getframerate(), handle.getnframes())
        if frames == 0:
            raise AudioError(f"{name}: the file holds no audio (0 samples)")
        if source_rate and frames / source_rate > MAX_SECONDS:
            raise AudioError(f"{name}: {frames / source_rate / 3600:.1f} hours of audio; at most "
                             f"{MAX_SECONDS // 3600} hours are accepted")
        try:
            data = handle.readframes(frames)
        except (wave.Error, EOFError) as exc:
            raise AudioError(f"{name}: the audio data is damaged ({exc})") from None
    if not data:
        raise AudioError(f"{name}: the header promises audio but the file ends before any sample")
    return from_pcm(data, source_rate, channels, width).at(rate)


def write_wav(path: str | Path, audio: Audio) -> None:
    """Mono 16-bit PCM WAV. Written to a temporary name and renamed, so a crash never leaves half a file."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.rate)
        out.writeframes(audio.to_bytes())
    partial.replace(path)


def rms_dbfs(samples: np.ndarray) -> float:
    """Loudness in dB relative to full scale (−inf for digital silence), for diagnostics and the segmenter."""
    if len(samples) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return 20 * np.log10(rms / 32768) if rms > 0 else float("-inf")
