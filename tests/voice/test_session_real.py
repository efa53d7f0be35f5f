"""A phone call on the embedded model: flite speaks, pocketsphinx hears, Qwen answers, espeak-ng speaks back."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from tests.voice.conftest import call
from voice.session import VoiceSession
from voice.sinks import WavSink
from voice.sources import FileSource
from voice.tts import Pyttsx3TTS

pytestmark = pytest.mark.llm


@pytest.fixture(scope="session")
def real_llm():
    from bot.llm import connect

    return connect(load_settings(env={}, dotenv_path=None))  # the embedded default, whatever the caller's env says


def test_a_policy_question_by_voice_is_answered_short_and_spoken(make_engine, real_llm, sphinx, say, tmp_path):
    engine = make_engine(None)
    engine.deps.llm = real_llm
    policies = engine.deps.policies
    conversation = engine.start("cust-2", channel="voice")
    sink = WavSink(tmp_path / "reply.wav")
    session = VoiceSession(engine, conversation, sphinx, Pyttsx3TTS(), sink, policies.voice, policies.messages)
    turns = session.run(FileSource(call(0.4, say("do you ship to canada"), 0.5)).frames())
    sink.close()
    assert len(turns) == 1
    turn = turns[0]
    assert turn.transcript.text == "do you ship to canada"
    assert turn.result.intent == "shipping_info" and not turn.result.handoff
    assert turn.result.llm_calls >= 1 and turn.result.reply
    answer = [s for s in turn.spoken if s != policies.messages.get("voice.filler")]
    assert 1 <= len(answer) <= policies.voice.max_spoken_sentences
    assert "canada" in " ".join(answer).lower()
    assert not any(mark in " ".join(turn.spoken) for mark in ("http", "*", "#", "www"))
    assert sink.parts and turn.first_answer_s is not None
