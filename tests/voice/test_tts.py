"""voice.tts: pyttsx3 on espeak-ng, safe under concurrent callers, silent on stdout."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from voice.audio import rms_dbfs
from voice.tts import Pyttsx3TTS


def test_a_sentence_becomes_audible_speech_at_22050_hz():
    audio = Pyttsx3TTS().synthesize("Your order has shipped and should arrive on Friday.")
    assert audio.rate == 22_050 and audio.samples.dtype == np.int16
    assert 1.5 < audio.seconds < 8
    assert rms_dbfs(audio.samples) > -40  # speech, not silence


def test_empty_text_is_silence_not_an_error():
    assert Pyttsx3TTS().synthesize("   ").seconds == 0


def test_concurrent_callers_each_get_their_own_sentence():
    """pyttsx3 shares one engine per process and drops queued files: the wrapper serialises and keeps each."""
    tts = Pyttsx3TTS()
    texts = {i: "word " * (3 + 6 * i) for i in range(5)}
    alone = {i: tts.synthesize(t).seconds for i, t in texts.items()}
    got: dict[int, float] = {}

    def speak(i: int) -> None:
        got[i] = tts.synthesize(texts[i]).seconds

    threads = [threading.Thread(target=speak, args=(i,)) for i in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == pytest.approx(alone, abs=0.05)  # as long as when spoken alone: nothing lost or swapped
    assert sorted(got.values()) == [got[i] for i in sorted(got)]  # longer text, longer speech


def test_nothing_is_printed_on_stdout(capfd):
    Pyttsx3TTS().synthesize("Thanks for calling.")
    assert capfd.readouterr().out == ""  # the espeak driver's "Audio saved to …" would corrupt `bot voice --json`


def seconds_at(words_per_minute: int) -> float:
    """In a fresh process, as `bot voice` uses it: one rate per process (the policy's). In a process whose espeak
    engine already spoke for other tests, a later rate change was seen not to apply under pytest-xdist (not
    reproduced outside it); see the closing note of issue 6."""
    code = ("import sys; from voice.tts import Pyttsx3TTS; "
            f"print(Pyttsx3TTS(words_per_minute={words_per_minute}).synthesize('one two three four five six seven "
            "eight').seconds)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    return float(out.stdout.strip())


def test_speaking_rate_comes_from_the_setting():
    assert seconds_at(120) > seconds_at(260) * 1.4


def test_an_empty_or_cut_result_from_the_driver_is_synthesised_again(monkeypatch):
    """pyttsx3's espeak driver sometimes writes its file before the last chunk of audio arrives."""
    from voice.audio import Audio

    tts = Pyttsx3TTS()
    real = tts._once
    results = iter([Audio.silence(0, 22_050), Audio.silence(0.1, 22_050)])
    monkeypatch.setattr(tts, "_once", lambda text: next(results, None) or real(text))
    audio = tts.synthesize("Sorry, I didn't catch that.")
    assert audio.seconds > 1.0 and rms_dbfs(audio.samples) > -40
    monkeypatch.setattr(tts, "_once", lambda text: Audio.silence(0, 22_050))
    with pytest.raises(Exception, match="no audio"):
        tts.synthesize("Hello there.")
