"""voice.audio: every WAV shape a caller might send becomes mono 16 kHz int16, or a clear error."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from voice.audio import Audio, AudioError, from_pcm, read_wav, resample, write_wav


def wav_bytes(samples: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def tone(freq: float, rate: int, seconds: float = 0.5, amplitude: int = 10_000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(audio.samples), 1 / audio.rate)[spectrum.argmax()])


def test_stereo_44k_becomes_mono_16k_with_the_same_pitch_and_length():
    left = tone(1000, 44_100)
    stereo = np.stack([left, left], axis=1).reshape(-1)
    audio = read_wav(wav_bytes(stereo, 44_100, channels=2))
    assert audio.rate == 16_000 and audio.samples.dtype == np.int16
    assert audio.seconds == pytest.approx(0.5, abs=0.001)
    assert peak_hz(audio) == pytest.approx(1000, abs=5)


def test_8_bit_unsigned_is_centred_on_zero():
    unsigned = ((tone(440, 8000).astype(np.int32) >> 8) + 128).astype(np.uint8)
    audio = read_wav(wav_bytes(unsigned, 8000, width=1))
    assert abs(float(audio.samples.mean())) < 300  # unsigned 128 is silence, not a DC offset
    assert audio.samples.max() > 5000 and audio.samples.min() < -5000
    assert peak_hz(audio) == pytest.approx(440, abs=5)


def test_24_bit_and_32_bit_samples_keep_their_level():
    samples = tone(500, 16_000).astype(np.int32) << 8
    raw24 = np.frombuffer(samples.astype("<i4").tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :3].tobytes()
    assert np.abs(from_pcm(raw24, 16_000, 1, 3).samples - tone(500, 16_000)).max() <= 1
    raw32 = (tone(500, 16_000).astype(np.int32) << 16).astype("<i4").tobytes()
    assert np.array_equal(from_pcm(raw32, 16_000, 1, 4).samples, tone(500, 16_000))


@pytest.mark.parametrize("data, words", [
    (b"", "not a readable WAV"),
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "not a readable WAV"),
    (b"hello, this is not audio at all" * 10, "not a readable WAV"),
])
def test_corrupt_or_empty_bytes_are_refused_with_the_reason(data, words):
    with pytest.raises(AudioError, match=words):
        read_wav(data)


def test_a_header_without_samples_says_so():
    with pytest.raises(AudioError, match="no audio"):
        read_wav(wav_bytes(np.zeros(0, dtype=np.int16), 16_000))


def test_a_truncated_file_keeps_what_is_there():
    full = wav_bytes(tone(300, 16_000, 1.0), 16_000)
    audio = read_wav(full[: len(full) // 2])
    assert 0.4 < audio.seconds < 0.6


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="directory"):
        read_wav(tmp_path)


@pytest.mark.parametrize("rate, channels, width, words", [
    (1000, 1, 2, "sample rate"), (16_000, 0, 2, "channel"), (16_000, 1, 5, "sample width"),
])
def test_impossible_formats_are_refused(rate, channels, width, words):
    with pytest.raises(AudioError, match=words):
        from_pcm(b"\x00" * 64, rate, channels, width)


def test_write_then_read_round_trip(tmp_path):
    original = Audio(tone(700, 22_050), 22_050)
    write_wav(tmp_path / "out.wav", original)
    assert not list(tmp_path.glob("*.partial"))
    back = read_wav(tmp_path / "out.wav", rate=22_050)
    assert np.array_equal(back.samples, original.samples)


def test_resampling_clips_instead_of_wrapping_around():
    loud = np.full(1000, 32767, dtype=np.int16)
    loud[::2] = -32768
    out = resample(loud, 44_100, 16_000)
    assert out.dtype == np.int16 and out.max() <= 32767 and out.min() >= -32768
