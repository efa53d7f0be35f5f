"""Speech to text behind one small interface, with two engines: vosk (preferred) and pocketsphinx (English fallback).

An engine opens a `Stream` per utterance; the stream takes audio as it arrives (`accept`, which returns the partial
transcript so far) and gives the final `Transcript` with word timings and a confidence (`finish`). Vosk also
endpoints on its own (`endpoint` turns true after trailing silence); the session uses the shared segmenter so that
both engines behave alike.

Why two: vosk is the better recognizer, but no English vosk model can be installed from a package registry, and
this product must work offline from a clean machine. Pocketsphinx ships a US-English model inside its wheel, so it is
the fallback that always works; a vosk model is used whenever one is found (see `find_vosk_model`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from voice.audio import RATE

FILLERS = {"<s>", "</s>", "<sil>", "[noise]", "[laugh]", "[breath]", "[cough]", "[um]", "[uh]", "[unk]", "<unk>"}
VOSK_ENGLISH = "vosk-model-small-en-us-0.15"  # what `vosk` downloads by name when the machine is online


class STTError(RuntimeError):
    """No usable speech recognizer, with instructions."""


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the utterance
    end: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float  # mean word confidence, 0 when nothing was recognised
    words: tuple[Word, ...] = ()
    engine: str = ""
    audio_s: float = 0.0
    decode_s: float = 0.0  # time spent in the recognizer for this utterance

    @property
    def rtf(self) -> float | None:
        return self.decode_s / self.audio_s if self.audio_s else None


class Stream(Protocol):
    def accept(self, samples: np.ndarray) -> str: ...  # the partial transcript so far
    def finish(self) -> Transcript: ...


class STTEngine(Protocol):
    name: str

    def stream(self) -> Stream: ...


def _confidence(words: list[Word]) -> float:
    return round(sum(w.confidence for w in words) / len(words), 4) if words else 0.0


# -- pocketsphinx ---------------------------------------------------------------------------------------------------
class SphinxSTT:
    """CMU pocketsphinx with its bundled US-English acoustic model, language model and dictionary.

    Tuned for speed on two CPU cores: the forward pass with a capped number of active HMMs (real-time factor about
    0.18 here) and the best-path search kept, because that is what gives word posteriors (the confidence).
    """

    name = "pocketsphinx"

    def __init__(self, max_hmm_per_frame: int = 3000) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=RATE, fwdflat=False, maxhmmpf=max_hmm_per_frame, loglevel="FATAL")
        self._lock = threading.Lock()  # one decoder, one utterance at a time

    def stream(self) -> "_SphinxStream":
        return _SphinxStream(self)


class _SphinxStream:
    def __init__(self, engine: SphinxSTT) -> None:
        self._engine = engine
        self._started = False
        self._audio = 0
        self._busy = 0.0

    def accept(self, samples: np.ndarray) -> str:
        t = time.perf_counter()
        decoder = self._engine._decoder
        if not self._started:
            self._engine._lock.acquire()
            decoder.start_utt()
            self._started = True
        decoder.process_raw(samples.astype("<i2").tobytes(), False, False)
        self._audio += len(samples)
        hyp = decoder.hyp()
        self._busy += time.perf_counter() - t
        return hyp.hypstr if hyp else ""

    def finish(self) -> Transcript:
        if not self._started:
            return Transcript("", 0.0, (), SphinxSTT.name)
        t = time.perf_counter()
        decoder = self._engine._decoder
        try:
            decoder.end_utt()
            hyp = decoder.hyp()
            frame_s = 0.01
            words = [Word(s.word.split("(")[0], round(s.start_frame * frame_s, 2), round(s.end_frame * frame_s, 2),
                          round(float(min(1.0, max(0.0, s.prob))), 4))
                     for s in decoder.seg() if s.word not in FILLERS and not s.word.startswith("+")]
        finally:
            self._engine._lock.release()
        self._busy += time.perf_counter() - t
        text = " ".join(w.word for w in words) if words else (hyp.hypstr if hyp else "")
        return Transcript(text, _confidence(words), tuple(words), SphinxSTT.name, self._audio / RATE, self._busy)


# -- vosk -----------------------------------------------------------------------------------------------------------
class VoskSTT:
    """Vosk (Kaldi) streaming recognition: partial results, word timings and confidences, built-in endpointing.

    `grammar` restricts recognition to a list of phrases (faster and far more accurate for menus and for testing
    with a small model). `deterministic` builds an overlay of the model directory whose feature config turns
    dithering off, so the same audio always gives the same result (tests, QA replays).
    """

    name = "vosk"

    def __init__(self, model_path: str | Path, grammar: list[str] | None = None, deterministic: bool = False,
                 overlay_dir: str | Path | None = None) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        path = Path(model_path)
        if not (path / "am").is_dir() and not (path / "final.mdl").exists():
            raise STTError(f"{path} is not a vosk model directory (it has no am/ folder)")
        if deterministic:
            path = _without_dither(path, Path(overlay_dir or Path.home() / ".cache" / "csbot" / "vosk-overlay"))
        self.model_path = path
        self._model = vosk.Model(str(path))
        self.grammar = grammar

    def stream(self) -> "_VoskStream":
        import vosk

        if self.grammar is not None:
            recognizer = vosk.KaldiRecognizer(self._model, RATE, json.dumps(self.grammar, ensure_ascii=False))
        else:
            recognizer = vosk.KaldiRecognizer(self._model, RATE)
        recognizer.SetWords(True)
        recognizer.SetPartialWords(True)
        return _VoskStream(recognizer)


class _VoskStream:
    def __init__(self, recognizer: object) -> None:
        self._rec = recognizer
        self._results: list[dict] = []
        self._audio = 0
        self._busy = 0.0
        self.endpoint = False  # vosk saw trailing silence after speech (its own end-of-turn)
        self.partial_words: list[Word] = []

    def accept(self, samples: np.ndarray) -> str:
        t = time.perf_counter()
        self._audio += len(samples)
        if self._rec.AcceptWaveform(samples.astype("<i2").tobytes()):  # type: ignore[attr-defined]
            self._results.append(json.loads(self._rec.Result()))  # type: ignore[attr-defined]
            self.endpoint = True
            partial = ""
        else:
            data = json.loads(self._rec.PartialResult())  # type: ignore[attr-defined]
            partial = data.get("partial", "")
            self.partial_words = [Word(w["word"], w["start"], w["end"], w.get("conf", 0.0))
                                  for w in data.get("partial_result", [])]
        self._busy += time.perf_counter() - t
        done = " ".join(r.get("text", "") for r in self._results if r.get("text"))
        return " ".join(p for p in (done, partial) if p)

    def finish(self) -> Transcript:
        t = time.perf_counter()
        self._results.append(json.loads(self._rec.FinalResult()))  # type: ignore[attr-defined]
        self._busy += time.perf_counter() - t
        words = [Word(w["word"], w["start"], w["end"], round(w.get("conf", 0.0), 4))
                 for r in self._results for w in r.get("result", []) if w["word"] not in FILLERS]
        text = " ".join(w.word for w in words)
        return Transcript(text, _confidence(words), tuple(words), VoskSTT.name, self._audio / RATE, self._busy)


def _without_dither(model: Path, overlay_root: Path) -> Path:
    """A directory that mirrors `model` by symlinks except conf/mfcc.conf, which gets --dither=0."""
    overlay = overlay_root / model.resolve().as_posix().strip("/").replace("/", "_")
    conf = model / "conf" / "mfcc.conf"
    text = conf.read_text() if conf.exists() else ""
    wanted = "\n".join(line for line in text.splitlines() if not line.startswith("--dither")) + "\n--dither=0\n"
    target = overlay / "conf" / "mfcc.conf"
    if target.exists() and target.read_text() == wanted:
        return overlay
    (overlay / "conf").mkdir(parents=True, exist_ok=True)
    for entry in model.iterdir():
        link = overlay / entry.name
        if entry.name != "conf" and not link.exists():
            link.symlink_to(entry.resolve())
    for entry in (model / "conf").iterdir() if (model / "conf").is_dir() else []:
        link = overlay / "conf" / entry.name
        if entry.name != "mfcc.conf" and not link.exists():
            link.symlink_to(entry.resolve())
    target.write_text(wanted)
    return overlay


# -- choosing an engine ---------------------------------------------------------------------------------------------
@dataclass
class ModelSearch:
    """Where a vosk model was looked for, for the message when none is found."""

    looked: list[str] = field(default_factory=list)


def find_vosk_model(search: ModelSearch | None = None) -> Path | None:
    """An English vosk model: `VOSK_MODEL_PATH`, else the newest `vosk-model*en*` folder in ~/.cache/vosk."""
    search = search if search is not None else ModelSearch()
    configured = os.environ.get("VOSK_MODEL_PATH")
    if configured:
        search.looked.append(f"VOSK_MODEL_PATH={configured}")
        if not (Path(configured) / "am").is_dir():
            raise STTError(f"VOSK_MODEL_PATH={configured} is not a vosk model directory (no am/ folder inside). "
                           "Unpack a model from https://alphacephei.com/vosk/models and point to its folder.")
        return Path(configured)
    cache = Path.home() / ".cache" / "vosk"
    search.looked.append(str(cache))
    if cache.is_dir():
        found = sorted((p for p in cache.glob("vosk-model*en*") if (p / "am").is_dir()), key=lambda p: p.name)
        if found:
            return found[-1]
    return None


def open_stt(choice: str = "auto") -> STTEngine:
    """`auto`: vosk with an English model when one is found, else pocketsphinx. `vosk` / `pocketsphinx`: that one.

    `vosk` without a local model tries vosk's own download of the small English model by name (works only online)
    and otherwise fails with instructions; `auto` never downloads.
    """
    if choice not in ("auto", "vosk", "pocketsphinx"):
        raise STTError(f"unknown speech recognizer {choice!r}; use auto, vosk or pocketsphinx")
    search = ModelSearch()
    model = find_vosk_model(search) if choice in ("auto", "vosk") else None
    if model is not None:
        return VoskSTT(model)
    if choice == "vosk":
        try:
            import socket

            import vosk

            socket.getaddrinfo("alphacephei.com", 443)  # offline: fail here (vosk's own failure is noisy)
            vosk.SetLogLevel(-1)
            return _VoskByName(vosk.Model(model_name=VOSK_ENGLISH))
        except Exception as exc:  # offline: no name resolution, or vosk raises on the failed download
            raise STTError(
                f"no vosk model found (looked in {', '.join(search.looked)}) and downloading {VOSK_ENGLISH} "
                f"failed ({exc}). Download it from https://alphacephei.com/vosk/models on a machine with internet, "
                f"unpack it into ~/.cache/vosk/ or set VOSK_MODEL_PATH, or use --stt pocketsphinx."
            ) from None
    return SphinxSTT()


class _VoskByName(VoskSTT):
    def __init__(self, model: object) -> None:  # noqa: D107 - a model vosk fetched itself
        self._model = model
        self.grammar = None
        self.model_path = Path(VOSK_ENGLISH)
