"""Text to speech: pyttsx3 on espeak-ng, wrapped so that it is safe to call from any thread.

pyttsx3 has three traps, and this module exists to keep them out of the rest of the code:
- one engine per process: `pyttsx3.init()` hands every caller the same engine object, so two callers share state;
- queued `save_to_file` calls lose all but the last file, so each sentence is synthesised and run to completion
  on its own, under a process-wide lock;
- `say()` shells out to `aplay` and blocks; this product never uses it: audio comes back as samples and a sink
  plays or writes them (so playback can be stopped mid-sentence for barge-in).
The espeak driver also prints "Audio saved to …" on stdout, which would corrupt `bot voice --json`: it is silenced.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from bot.slots import TURNS
from voice.audio import Audio, AudioError, read_wav

_LOCK = threading.Lock()  # the process's one pyttsx3 engine, one synthesis at a time
_ENGINE: object | None = None


class TTSError(RuntimeError):
    """Speech synthesis is not available, with instructions."""


class TTS(Protocol):
    name: str
    rate: int  # sample rate of what `synthesize` returns

    def synthesize(self, text: str) -> Audio: ...


def _fix_espeak_driver() -> None:
    """Make pyttsx3's espeak driver keep the audio of its last callback.

    pyttsx3 2.99 (`drivers/espeak.py`, `_onSynth`) handles the end-of-message event, which writes the WAV and empties
    its buffer, before it appends the samples that came with that same callback. espeak delivers audio in 1-second
    callbacks, so every file lost its last second (a sentence under a second came out empty) and that audio was put
    in front of the next sentence. The samples are appended first here; the original then handles the events. It
    has to happen before the engine is made: the driver registers its callback with espeak on creation. The driver
    also stops printing.
    """
    import ctypes

    from pyttsx3.drivers import espeak

    original = espeak.EspeakDriver._onSynth
    if getattr(original, "csbot_fixed", False):
        return

    def on_synth(self: object, wav: object, numsamples: int, events: object) -> int:
        if getattr(self, "_speaking", False) and numsamples > 0:
            self._data_buffer += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))  # type: ignore
        return original(self, wav, 0, events)

    on_synth.csbot_fixed = True  # type: ignore[attr-defined]
    espeak.EspeakDriver._onSynth = on_synth
    # Its "Audio saved to …" line can come after runAndWait() has returned (espeak's callback thread), past any
    # redirect of stdout, and would corrupt `bot voice --json`: the driver module's own `print` says nothing.
    espeak.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


def _engine() -> object:
    global _ENGINE
    if _ENGINE is None:
        try:
            import pyttsx3

            _fix_espeak_driver()
            _ENGINE = pyttsx3.init("espeak")
        except Exception as exc:  # espeak-ng missing: pyttsx3 raises OSError/RuntimeError from its driver
            raise TTSError(f"text-to-speech is unavailable ({exc}); install espeak-ng: sudo apt-get install "
                           "espeak-ng") from None
    return _ENGINE


def _set(engine: object, name: str, value: object) -> None:
    """Apply a voice property now. pyttsx3 queues `setProperty` behind any command still pending in its engine,
    so the first sentence of a process could come out at espeak's default rate; the driver applies it at once."""
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    if driver is not None and hasattr(driver, "setProperty"):
        driver.setProperty(name, value)
    else:  # another pyttsx3 layout: the public, queued way
        engine.setProperty(name, value)  # type: ignore[attr-defined]


class Pyttsx3TTS:
    """Sentences to 16-bit mono audio at espeak-ng's 22,050 Hz."""

    name = "pyttsx3/espeak-ng"
    rate = 22_050

    def __init__(self, words_per_minute: int = 175, voice: str | None = None) -> None:
        self.words_per_minute = words_per_minute
        self.voice = voice

    def synthesize(self, text: str) -> Audio:
        """`text` as speech. pyttsx3's espeak driver writes its file when espeak reports the end of the message,
        before it adds the audio of that last callback: now and then a sentence comes back empty or cut short. Such
        a result (shorter than 40% of the time the words need at this rate) is synthesised again."""
        text = " ".join(text.split())
        if not text:
            return Audio.silence(0, self.rate)
        expected_s = 0.4 * len(text.split()) * 60 / self.words_per_minute
        audio = self._once(text)
        for _ in range(3):
            if audio.seconds >= expected_s:
                break
            audio = self._once(text)
        if not audio.samples.any():
            raise TTSError(f"espeak-ng produced no audio for {text[:40]!r} (4 attempts)")
        return audio

    def _once(self, text: str) -> Audio:
        # Called from inside a turn (the reply's sentences are spoken as they pass the checks): espeak works in C
        # and one synthesis at a time, so the turn's interpreter slot serves other turns meanwhile.
        with TURNS.waiting(), _LOCK, tempfile.TemporaryDirectory(prefix="csbot-tts-") as tmp:
            engine = _engine()
            _set(engine, "rate", self.words_per_minute)
            if self.voice:
                _set(engine, "voice", self.voice)
            path = Path(tmp) / "speech.wav"
            with contextlib.redirect_stdout(io.StringIO()):
                engine.save_to_file(text, str(path))  # type: ignore[attr-defined]
                engine.runAndWait()  # type: ignore[attr-defined]
            try:
                return read_wav(path, rate=self.rate)
            except AudioError:  # an empty file (the driver's race above): the caller tries again
                return Audio.silence(0, self.rate)
