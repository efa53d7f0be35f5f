"""`bot voice` as a user runs it: a subprocess, a WAV in, JSON lines and a WAV out (CONTRACTS §1)."""

from __future__ import annotations

import json

from tests.bot.test_cli import run_bot
from tests.voice.conftest import call
from voice.audio import read_wav, rms_dbfs, write_wav
from voice.segment import split

UNREACHABLE_LLM = {"BOT_LLM_BASE_URL": "http://127.0.0.1:9/v1", "BOT_LLM_TIMEOUT": "2"}


def test_voice_file_to_file_with_json(tmp_path, say):
    recording = call(0.4, say("where is my order"), 1.2, say("I want to talk to a human agent"), 0.5)
    write_wav(tmp_path / "in.wav", recording)
    out = run_bot(["voice", "--input", "in.wav", "--output", "out.wav", "--json"], b"", tmp_path, UNREACHABLE_LLM)
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert {"transcript", "reply", "intent", "handoff", "handoff_reason", "stt_engine"} <= set(line)
        assert line["stt_engine"] == "pocketsphinx" and line["reply"] and line["spoken"]
    assert lines[0]["transcript"] == "where is my order" and lines[0]["intent"] == "order_status"
    assert lines[1]["handoff"] is True and lines[1]["handoff_reason"] == "customer_request"
    assert len({line["conversation_id"] for line in lines}) == 1  # one call, one conversation
    spoken = read_wav(tmp_path / "out.wav")
    assert spoken.seconds > 5 and rms_dbfs(spoken.samples) > -45
    assert len(split(spoken.samples)) >= 2  # two replies, with a pause between them


def test_a_bad_input_file_fails_fast_with_a_clear_error(tmp_path):
    """Before the engine or the LLM loads (every other bad shape is covered in test_audio.py)."""
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    words = "not a readable WAV"
    out = run_bot(["voice", "--input", "bad.wav", "--output", "out.wav", "--json"], b"", tmp_path, UNREACHABLE_LLM)
    assert out.returncode == 2
    err = out.stderr.decode()
    assert words in err and "Traceback" not in err
    assert out.stdout == b"" and not (tmp_path / "out.wav").exists()
