"""voice.sources and voice.sinks: raw PCM streams, devices that are not there, a speaker that can be interrupted."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from voice.audio import Audio, AudioError
from voice.segment import FRAME_SAMPLES
from voice.sinks import Speaker, VirtualSpeaker, WavSink
from voice.sources import DeviceError, FileSource, Microphone, PcmSource


def test_raw_pcm_stream_at_48k_stereo_becomes_16k_frames():
    seconds = 1.0
    t = np.arange(int(48_000 * seconds)) / 48_000
    mono = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    stereo = np.stack([mono, mono], axis=1).reshape(-1).tobytes()
    frames = list(PcmSource(io.BytesIO(stereo), rate=48_000, channels=2).frames())
    assert all(len(f) == FRAME_SAMPLES and f.dtype == np.int16 for f in frames)
    assert len(frames) * FRAME_SAMPLES == pytest.approx(16_000 * seconds, abs=FRAME_SAMPLES)


def test_a_bad_pcm_format_fails_before_reading():
    with pytest.raises(AudioError, match="sample rate"):
        PcmSource(io.BytesIO(b""), rate=100)


def test_file_source_in_real_time_keeps_the_pace():
    source = FileSource(Audio.silence(0.6), realtime=True, tail_silence_s=0)
    started = time.monotonic()
    count = sum(1 for _ in source.frames())
    assert count == 20 and time.monotonic() - started >= 0.55


def test_missing_devices_are_clear_errors():
    with pytest.raises(DeviceError, match="microphone.*--input"):
        Microphone(device="no such device 1234")
    with pytest.raises(DeviceError, match="speaker.*--output"):
        Speaker(device="no such device 1234")


def test_virtual_speaker_plays_in_wall_clock_time_and_stops_at_once():
    speaker = VirtualSpeaker()
    speaker.play(Audio.silence(0.3, 22_050))
    speaker.play(Audio.silence(0.3, 22_050))
    assert speaker.playing
    time.sleep(0.1)
    cut = speaker.stop()
    assert not speaker.playing and cut == pytest.approx(0.5, abs=0.05)
    assert speaker.heard_s == pytest.approx(0.1, abs=0.05) and speaker.stops == 1


def test_wav_sink_writes_the_replies_in_order(tmp_path):
    sink = WavSink(tmp_path / "out.wav", rate=16_000, gap_s=0.5)
    sink.play(Audio(np.full(1600, 1000, dtype=np.int16), 16_000))
    sink.end_turn()
    sink.play(Audio(np.full(1600, -1000, dtype=np.int16), 22_050).at(16_000))
    sink.close()
    from voice.audio import read_wav

    out = read_wav(tmp_path / "out.wav").samples
    assert out[0] == 1000 and out[1600 + 8000 + 10] < 0 and not out[1600:1600 + 8000].any()


class FakePortAudio:
    """Stands in for the sounddevice module: no sound card here, so the tests drive the stream callbacks."""

    def __init__(self) -> None:
        self.streams: list = []
        test = self

        class Stream:
            def __init__(self, samplerate, channels, dtype, device=None, callback=None, blocksize=0):
                self.samplerate, self.callback, self.blocksize = samplerate, callback, blocksize
                self.started = self.closed = False
                test.streams.append(self)

            def start(self):
                self.started = True

            def stop(self):
                self.started = False

            def close(self):
                self.closed = True

        self.OutputStream = self.InputStream = Stream


def test_speaker_plays_queued_speech_and_stop_silences_it_at_once(monkeypatch):
    fake = FakePortAudio()
    monkeypatch.setattr("voice.sources.open_sounddevice", lambda: fake)
    speaker = Speaker(rate=16_000)
    speaker.play(Audio(np.full(1000, 500, dtype=np.int16), 16_000))
    out = np.zeros((600, 1), dtype=np.int16)
    fake.streams[0].callback(out, 600, None, None)
    assert (out[:, 0] == 500).all() and speaker.playing
    assert speaker.stop() == pytest.approx(400 / 16_000)
    fake.streams[0].callback(out, 600, None, None)
    assert not out.any() and not speaker.playing  # silence after the stop, not the rest of the sentence
    speaker.close()
    assert fake.streams[0].closed


def test_microphone_frames_arrive_in_order_and_a_stalled_bot_drops_the_oldest(monkeypatch):
    fake = FakePortAudio()
    monkeypatch.setattr("voice.sources.open_sounddevice", lambda: fake)
    mic = Microphone(max_queue_s=0.09)  # room for three frames
    stream = fake.streams[0]
    assert stream.samplerate == 16_000 and stream.blocksize == FRAME_SAMPLES and stream.started
    for value in range(5):
        stream.callback(np.full((FRAME_SAMPLES, 1), value, dtype=np.int16), FRAME_SAMPLES, None, None)
    frames = mic.frames()
    assert [int(next(frames)[0]) for _ in range(3)] == [2, 3, 4]
    frames.close()
    assert stream.closed
