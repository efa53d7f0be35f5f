"""CSAT on a phone call: the rating question is spoken, the caller's spoken number is heard by a real recognizer
(pocketsphinx; flite speaks the caller) and stored as their rating, and a call that ends without one records the
proxy. The LLM is the fake one; speech in and out is real."""

from __future__ import annotations

import io

from tests.voice.conftest import call
from tests.voice.test_session import RecordingSink, heard, session_for
from voice.audio import read_wav, rms_dbfs, write_wav
from voice.cli import open_call, run_voice
from voice.sinks import WavSink
from voice.sources import FileSource


def stored(engine, conversation):
    record = engine.db.conversation(conversation)
    return record["csat"], record["csat_source"]


def run_call(engine, recording, tmp_path, customer="cust-1"):
    """`bot voice --input IN.wav --output OUT.wav` in this process (its run_voice, its file call, pocketsphinx)."""
    write_wav(tmp_path / "in.wav", recording)
    conversation = engine.start(customer, channel="voice")
    wpm = engine.deps.policies.voice.words_per_minute
    phone = open_call(tmp_path / "in.wav", tmp_path / "out.wav", "pocketsphinx", False, wpm)
    turns: list[str] = []
    count = run_voice(engine, conversation, phone, json_out=True, realtime=False, greet=False, out=io.StringIO(),
                      say=turns.append)
    return conversation, count


def test_a_caller_says_goodbye_then_four_and_the_rating_is_stored(engine, sphinx, say, tmp_path):
    messages = engine.deps.policies.messages
    recording = call(0.4, say("where is my order"), 1.5, say("thanks, bye"), 1.5, say("four stars, thanks"), 0.6)
    sink = WavSink(tmp_path / "out.wav")
    session = session_for(engine, sink, sphinx, customer="cust-1")
    turns = session.run(FileSource(recording).frames())
    sink.close()
    assert [t.transcript.text for t in turns] == ["where is my order", "thanks bye", "four stars thanks"]
    bye, rating = turns[1].result, turns[2].result
    assert bye.intent == "goodbye" and bye.csat_asked and bye.reply.endswith(messages.get("csat.ask"))
    assert turns[1].spoken[-1] == messages.get("csat.ask")  # the question was said (for_speech left it whole)
    assert rating.reply == messages.get("csat.thanks", score=4)
    assert turns[2].spoken[0].startswith("Thank you for your rating of 4")
    assert stored(engine, session.conversation_id) == (4.0, "customer")
    assert session.end() is None  # hanging up after rating: the rating stays
    assert stored(engine, session.conversation_id) == (4.0, "customer")
    said = [m["text"] for m in engine.db.transcript(session.conversation_id) if m["role"] == "customer"]
    assert said == [t.transcript.text for t in turns]
    assert read_wav(tmp_path / "out.wav", rate=22_050).seconds > 8  # answers, the question and the thanks, spoken


def test_a_lone_four_the_recognizer_is_unsure_of_is_asked_again_and_the_repeat_counts(engine, sphinx, say):
    """pocketsphinx hears flite's lone "four" as "fire" with a low confidence: the bot asks to repeat (the graph's
    unclear-speech rule), and the caller's repeat is still read as the answer to the question."""
    recording = call(0.4, say("thanks, bye"), 1.5, say("four"), 1.5, say("four stars, thanks"), 0.6)
    session = session_for(engine, RecordingSink(), sphinx, customer="cust-1")
    turns = session.run(FileSource(recording).frames())
    assert len(turns) == 3 and turns[0].result.csat_asked
    heard_it = turns[1].result.reply == engine.deps.policies.messages.get("csat.thanks", score=4)
    assert heard_it or turns[1].result.reply == engine.deps.policies.messages.get("voice.repeat")
    assert stored(engine, session.conversation_id) == (4.0, "customer")
    assert not turns[2].result.handoff  # one unclear answer is not a reason to call a person


def test_bot_voice_file_call_stores_a_spoken_rating(engine, say, tmp_path):
    conversation, count = run_call(engine, call(0.4, say("thanks, bye"), 1.5, say("I'd say five stars"), 0.6),
                                   tmp_path)
    assert count == 2
    assert stored(engine, conversation) == (5.0, "customer")
    spoken = read_wav(tmp_path / "out.wav")
    assert spoken.seconds > 5 and rms_dbfs(spoken.samples) > -45  # the goodbye, the question and the thanks


def test_bot_voice_records_the_proxy_when_the_recording_ends_without_a_rating(engine, say, tmp_path):
    conversation, count = run_call(engine, call(0.4, say("where is my order"), 1.5, say("thanks, bye"), 0.6),
                                   tmp_path)
    assert count == 2
    assert engine.state(conversation)["csat"]["asked"]  # asked, never answered: the call just ended
    score, source = stored(engine, conversation)
    assert source == "proxy" and 1 <= score <= 5


def test_the_question_is_spoken_whole_even_when_the_reply_uses_up_the_budget(engine):
    messages = engine.deps.policies.messages
    policy = engine.deps.policies.voice.model_copy(update={"max_spoken_sentences": 1})
    session = session_for(engine, RecordingSink(), policy=policy)
    turn = session.respond(heard("thanks, bye"))
    assert turn.result.csat_asked
    goodbye = messages.get("smalltalk.goodbye")
    assert turn.spoken == [goodbye.split(". ")[0] + ".", messages.get("csat.ask")]  # short answer, whole question
