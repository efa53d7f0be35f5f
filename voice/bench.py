"""The voice figures of `bot bench` (CONTRACTS §5): `stt_rtf` and `voice_first_audio_s`.

- `stt_rtf`: time inside the speech recognizer divided by the length of the audio, over a scripted call (the engine
  `bot voice` picks by default: vosk with an English model when one is installed, else pocketsphinx).
- `voice_first_audio_s`: from the moment the end of the caller's turn is detected to the first synthesised audio
  (the holding phrase "One moment." counts: it is what the caller hears), median over the call's turns, through
  the real session (segmenter, recognizer, engine with its LLM, speech shaping, espeak-ng). The end-of-turn
  silence itself (`end_of_turn_silence_ms` in guardrails/voice.yaml) comes before that moment;
  `voice_first_audio_after_speech_s` adds it.
  `voice_first_answer_audio_s` is the same up to the first audio of the answer itself.

The caller's lines are spoken by flite when it is installed (clean 16 kHz speech), else by espeak-ng.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from voice.audio import RATE, Audio, read_wav
from voice.session import VoiceSession
from voice.sinks import WavSink
from voice.sources import FileSource
from voice.stt import open_stt
from voice.tts import Pyttsx3TTS

SCRIPT = ["hello", "where is my order", "my order number is a one zero zero zero two", "how long do refunds take",
          "do you ship to canada", "thank you goodbye"]


def caller_speech(text: str, folder: Path) -> tuple[Audio, str]:
    """`text` spoken by flite's slt voice (or espeak-ng when flite is missing), at 16 kHz."""
    flite = shutil.which("flite")
    if flite:
        path = folder / f"line{abs(hash(text))}.wav"
        subprocess.run([flite, "-voice", "slt", "-t", text, "-o", str(path)], check=True, capture_output=True)
        return read_wav(path), "flite slt"
    return Pyttsx3TTS().synthesize(text).at(RATE), "espeak-ng"


def measure_voice(engine: Any, customer: str = "cust-1") -> dict[str, Any]:
    policies = engine.deps.policies
    stt = open_stt("auto")
    tts = Pyttsx3TTS(words_per_minute=policies.voice.words_per_minute)
    with tempfile.TemporaryDirectory(prefix="bot-bench-voice-") as tmp:
        parts: list[Audio] = [Audio.silence(0.5)]
        voice = ""
        for line in SCRIPT:
            audio, voice = caller_speech(line, Path(tmp))
            parts += [audio, Audio.silence(1.2)]
        recording = Audio.concat(parts, RATE)
        conversation = engine.start(customer, channel="voice")
        session = VoiceSession(engine, conversation, stt, tts, WavSink(Path(tmp) / "out.wav"), policies.voice,
                               policies.messages)
        turns = session.run(FileSource(recording).frames())
    heard_s = sum(t.transcript.audio_s for t in turns)
    decode_s = sum(t.transcript.decode_s for t in turns)
    first = [t.first_audio_s for t in turns if t.first_audio_s is not None]
    answer = [t.first_answer_s for t in turns if t.first_answer_s is not None]
    silence_s = policies.voice.end_of_turn_silence_ms / 1000
    return {
        "stt_rtf": round(decode_s / heard_s, 3) if heard_s else None,
        "voice_first_audio_s": round(median(first), 3) if first else None,
        "voice_first_audio_after_speech_s": round(median(first) + silence_s, 3) if first else None,
        "voice_first_audio_max_s": round(max(first), 3) if first else None,
        "voice_first_answer_audio_s": round(median(answer), 3) if answer else None,  # the holding phrase excluded
        "voice_first_answer_audio_max_s": round(max(answer), 3) if answer else None,
        "voice_turns": [{"heard": t.transcript.text, "confidence": t.transcript.confidence,
                         "first_audio_s": None if t.first_audio_s is None else round(t.first_audio_s, 3),
                         "first_answer_s": None if t.first_answer_s is None else round(t.first_answer_s, 3),
                         "first_words": t.spoken[0] if t.spoken else ""} for t in turns],
        "voice_setup": f"STT {stt.name}, TTS {tts.name}, caller voice {voice}",
    }
