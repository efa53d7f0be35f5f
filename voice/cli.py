"""`bot voice`: a call from the microphone to the speaker, or from a WAV file to a WAV file.

File mode (`--input IN.wav --output OUT.wav`) splits the recording at silences; each utterance is one customer turn
of the same conversation, and OUT.wav holds the bot's spoken replies in order. `--json` prints one CONTRACTS §1
object per utterance as soon as its turn is done. When the call ends (the recording's end, Ctrl+C) the conversation
ends too: the CSAT proxy is recorded unless the caller said a rating.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from voice.audio import Audio, AudioError, read_wav
from voice.session import VoiceSession, VoiceTurn
from voice.sinks import Speaker, VirtualSpeaker, WavSink
from voice.sources import DeviceError, FileSource, Microphone
from voice.stt import STTEngine, STTError, open_stt
from voice.tts import Pyttsx3TTS, TTSError

VOICE_ERRORS = (AudioError, DeviceError, STTError, TTSError)
log = logging.getLogger(__name__)


@dataclass
class Call:
    """What one `bot voice` run talks through, opened before the engine and the LLM load (bad input fails fast)."""

    audio: Audio | None  # the recording, or None for the microphone
    microphone: Microphone | None
    stt: STTEngine
    tts: Pyttsx3TTS
    sink: Any
    input_name: str = ""


def open_call(input_path: Path | None, output_path: Path | None, stt_choice: str, realtime: bool,
              words_per_minute: int) -> Call:
    audio = read_wav(input_path) if input_path is not None else None
    stt = open_stt(stt_choice)
    tts = Pyttsx3TTS(words_per_minute=words_per_minute)
    tts.synthesize("ok")  # espeak-ng missing or broken: fail now
    if output_path is not None:
        if not output_path.parent.is_dir():
            raise AudioError(f"cannot write {output_path}: folder {output_path.parent} does not exist")
        sink: Any = WavSink(output_path, rate=tts.rate)
    elif audio is not None and realtime:
        sink = VirtualSpeaker()
    else:
        sink = Speaker(rate=tts.rate)
    microphone = Microphone() if audio is None else None
    return Call(audio, microphone, stt, tts, sink, str(input_path or "microphone"))


def run_voice(engine: Any, conversation_id: str, call: Call, *, json_out: bool, realtime: bool,
              greet: bool | None, out: IO[str], say: Any) -> int:
    """Run one call; returns the number of customer utterances."""
    policies = engine.deps.policies
    phrases = {k.placeholder: k.spoken_as for k in policies.rails.pii.kinds.values()}

    def report(turn: VoiceTurn) -> None:
        if json_out:
            out.write(json.dumps(turn.contract(), ensure_ascii=False) + "\n")
            out.flush()
        else:
            say(f"[bold]you[/]  {turn.transcript.text or '(nothing recognised)'}  "
                f"[dim]({turn.transcript.engine}, confidence {turn.transcript.confidence:.2f})[/]")
            say(f"[bold]bot[/]  {turn.result.reply if turn.result else ''}")

    live = call.audio is None
    session = VoiceSession(engine, conversation_id, call.stt, call.tts, call.sink, policies.voice,
                           policies.messages, on_turn=report, placeholders=phrases,
                           on_partial=(lambda p: say(f"[dim]… {p}[/]")) if live and not json_out else None)
    try:
        if greet if greet is not None else live:
            session.greet()
        if call.microphone is not None:
            say("[dim]Listening; Ctrl+C ends the call.[/]")
            from bot.chat import AgentWatcher

            def agent_says(text: str) -> None:  # after a handoff the agent's replies are read to the caller
                say(f"[bold]agent[/]  {text}")
                session.say(text)

            watcher = AgentWatcher(engine, conversation_id, agent_says)
            watcher.start()
            try:
                session.run(call.microphone.frames(), realtime=True)
            except KeyboardInterrupt:
                pass
            finally:
                watcher.stop.set()
        elif call.audio is not None:
            session.run(FileSource(call.audio, realtime=realtime).frames(), realtime=realtime)
    finally:
        call.sink.close()
        try:
            session.end()  # the caller hung up (or the recording ended): the proxy, unless they rated
        except Exception as exc:  # never hide why the call stopped behind a failure to record the proxy
            log.warning("could not record the call's CSAT proxy: %s", exc)
    if call.audio is not None and not session.turns:
        print(f"note: no speech found in {call.input_name} ({call.audio.seconds:.1f} s of audio)", file=sys.stderr)
    return len(session.turns)
