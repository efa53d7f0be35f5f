"""voice.session: the same graph as chat, heard through a real recognizer and spoken by a real voice.

The LLM is the fake one (tests/fakes.py); speech recognition (pocketsphinx), speech synthesis (espeak-ng) and the
segmenter are real, and the customer's lines are spoken by flite.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bot.policy import VoicePolicy
from tests.voice.conftest import call
from voice.audio import Audio, read_wav
from voice.session import VoiceSession
from voice.sinks import VirtualSpeaker, WavSink
from voice.sources import FileSource
from voice.stt import Transcript
from voice.tts import Pyttsx3TTS


class RecordingSink:
    """Keeps each queued sentence's audio and when it was queued."""

    playing = False

    def __init__(self) -> None:
        self.played: list[tuple[float, Audio]] = []

    def play(self, audio: Audio) -> None:
        self.played.append((time.perf_counter(), audio))

    def stop(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


def session_for(engine, sink, stt=None, customer=None, policy=None):
    conversation = engine.start(customer, channel="voice")
    policies = engine.deps.policies
    return VoiceSession(engine, conversation, stt, Pyttsx3TTS(), sink, policy or policies.voice, policies.messages,
                        placeholders={k.placeholder: k.spoken_as for k in policies.rails.pii.kinds.values()})


def heard(text: str, confidence: float = 0.9) -> Transcript:
    return Transcript(text, confidence, (), "test", 1.0, 0.1)


def test_a_recorded_call_is_split_into_turns_and_a_request_for_a_person_hands_off(engine, sphinx, say, tmp_path):
    recording = call(0.5, say("where is my order"), 1.2, say("I want to talk to a human agent"), 0.4)
    sink = WavSink(tmp_path / "out.wav")
    session = session_for(engine, sink, sphinx)
    turns = session.run(FileSource(recording).frames())
    sink.close()
    assert [t.transcript.text for t in turns] == ["where is my order", "i want to talk to a human agent"]
    first, second = (t.result for t in turns)
    assert first.intent == "order_status" and not first.handoff
    assert second.handoff and second.handoff_reason == "customer_request"
    assert all(t.spoken and t.first_audio_s is not None for t in turns)
    assert turns[0].start_s < turns[0].end_s < turns[1].start_s
    out = read_wav(tmp_path / "out.wav", rate=22_050)
    sentences = sum(len(t.spoken) for t in turns)
    assert len(sink.parts) == sentences + 2  # every spoken sentence, and a pause after each reply
    assert all(part.seconds > 0.5 for part in sink.parts if part.samples.any())  # real speech, not blips
    assert out.seconds == pytest.approx(sum(p.seconds for p in sink.parts), abs=0.01)
    assert np.array_equal(out.samples[: len(sink.parts[0].samples)], sink.parts[0].samples)  # in order
    package = engine.queue.get(session.conversation_id).package
    assert package["channel"] == "voice"
    said = [line for line in package["transcript"] if line["role"] == "customer"]
    assert [line["text"] for line in said] == ["where is my order", "i want to talk to a human agent"]
    assert all(0.5 < line["stt_confidence"] <= 1 for line in said)


def test_unclear_speech_asks_to_repeat_then_hands_off(engine):
    session = session_for(engine, RecordingSink())
    repeat = engine.deps.policies.messages.get("voice.repeat")
    first = session.respond(heard("what took you a donut", 0.21)).result
    assert first.reply == repeat and not first.handoff and first.intent is None
    clear = session.respond(heard("where is my order", 0.92)).result
    assert clear.intent == "order_status"  # a clear turn resets the count
    session.respond(heard("", 0.0))  # nothing recognised at all counts as unclear, not as an empty message
    last = session.respond(heard("and the box ate", 0.3)).result
    assert last.handoff and last.handoff_reason == "low_confidence"
    package = engine.queue.get(session.conversation_id).package
    confidences = [line.get("stt_confidence") for line in package["transcript"] if line["role"] == "customer"]
    assert confidences == [0.21, 0.92, 0.0, 0.3]
    assert "[inaudible]" in [line["text"] for line in package["transcript"]]
    assert "speech not recognised clearly 2 times" in package["evidence"]


def test_saying_agent_alone_reaches_a_person(engine):
    session = session_for(engine, RecordingSink())
    result = session.respond(heard("agent")).result
    assert result.handoff and result.handoff_reason == "customer_request"


def test_small_talk_on_the_phone_is_answered_at_once_without_the_llm(engine, fake_llm):
    turn = session_for(engine, RecordingSink()).respond(heard("hello"))
    assert turn.result.intent == "greeting"
    assert turn.result.reply == engine.deps.policies.messages.get("smalltalk.greeting")
    assert fake_llm.stream_requests == [] and turn.first_audio_s < 0.5


def test_a_heard_order_number_is_confirmed_aloud_first(engine):
    session = session_for(engine, RecordingSink(), customer="cust-1")
    turn = session.respond(heard("where is my order a one zero zero zero two"))
    assert turn.spoken[0] == "Order A, 1 0 0 0 2."
    assert turn.result.intent == "order_status" and "A10002" in turn.result.reply
    assert "A10002" not in " ".join(turn.spoken)  # ids are spelled out, never read as a number


def test_replies_are_spoken_short_and_without_markup(engine, fake_llm):
    fake_llm.reply = ("**Sure!** Here is what to do. See https://shop.example.com/help for more. "
                      "First, pack the item. Second, print the label. Third, drop it off.")
    session = session_for(engine, RecordingSink())
    turn = session.respond(heard("do you ship to canada"))
    spoken = " ".join(turn.spoken)
    assert len(turn.spoken) == engine.deps.policies.voice.max_spoken_sentences
    assert "*" not in spoken and "http" not in spoken and "shop.example" not in spoken
    assert turn.result.reply.count(".") > len(turn.spoken)  # the written reply (transcript) stays whole


def test_the_llm_is_asked_for_a_short_spoken_answer(engine, fake_llm):
    session_for(engine, RecordingSink()).respond(heard("do you ship to canada"))
    prompt = fake_llm.stream_requests[-1]["messages"][-1]["content"]
    assert "phone call" in prompt


def test_the_first_sentence_plays_while_the_llm_is_still_writing(engine, monkeypatch):
    """The LLM writes its second sentence only once the first one has been played: no streaming, no second one."""
    sink = RecordingSink()
    first_played = threading.Event()
    original_play = sink.play
    sink.play = lambda audio: (original_play(audio), first_played.set())  # type: ignore[method-assign]

    def slow_stream(messages, **kwargs):
        yield "We ship to Canada within five to seven days. "
        streamed_first = first_played.wait(timeout=10)
        yield "Duties are included." if streamed_first else "NOT STREAMED."

    monkeypatch.setattr(engine.deps.llm, "stream", slow_stream)
    started = time.perf_counter()
    turn = session_for(engine, sink).respond(heard("do you ship to canada"), ended_at=started)
    assert "NOT STREAMED" not in turn.result.reply and len(sink.played) >= 2
    assert turn.first_audio_s == pytest.approx(sink.played[0][0] - started, abs=0.05)


def test_a_slow_answer_is_preceded_by_a_holding_phrase(engine, monkeypatch):
    filler = engine.deps.policies.messages.get("voice.filler")
    sink = RecordingSink()

    def slow_stream(messages, **kwargs):  # the answer comes only after the holding phrase was played
        deadline = time.monotonic() + 10
        while not sink.played and time.monotonic() < deadline:
            time.sleep(0.02)
        yield "We ship to Canada within five to seven days."

    monkeypatch.setattr(engine.deps.llm, "stream", slow_stream)
    started = time.perf_counter()
    turn = session_for(engine, sink).respond(heard("do you ship to canada"), ended_at=started)
    assert turn.spoken[0] == filler and turn.spoken[1:]
    assert turn.first_audio_s >= engine.deps.policies.voice.filler_after_ms / 1000  # not before the policy's wait
    assert turn.first_answer_s > turn.first_audio_s
    assert filler not in turn.result.reply  # said to hold the line, not part of the answer


def test_barge_in_stops_the_bot_and_the_interruption_is_the_next_turn(engine, sphinx, say):
    """A scripted caller, replayed in real time, talks over the bot's answer to the first question."""
    question, interruption = say("where is my order"), say("I want to talk to a human agent")
    recording = call(0.3, question, 1.3, interruption, 1.0)
    speaker = VirtualSpeaker()
    policy = VoicePolicy(max_spoken_sentences=5, max_spoken_chars=600)
    session = session_for(engine, speaker, sphinx, policy=policy)
    turns = session.run(FileSource(recording, realtime=True).frames(), realtime=True)
    assert [t.transcript.text for t in turns] == ["where is my order", "i want to talk to a human agent"]
    assert turns[0].barged_in and not turns[1].barged_in
    assert speaker.stops == 1
    full = sum(Pyttsx3TTS().synthesize(s).seconds for s in turns[0].spoken)
    heard_first = speaker.heard_s - sum(Pyttsx3TTS().synthesize(s).seconds for s in turns[1].spoken)
    assert heard_first < full - 0.5  # the first reply was cut off
    assert turns[1].result.handoff and turns[1].result.handoff_reason == "customer_request"
