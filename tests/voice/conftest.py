"""Real speech for the voice tests: flite's voices (Debian package `flite`) say the customer's lines.

flite's "slt" voice speaks at 16 kHz, which pocketsphinx's bundled English model recognises reliably; espeak-ng
(pyttsx3's engine) supplies Korean for the vosk model. Audio is generated once per session into a temporary folder.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from voice.audio import Audio, read_wav


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # make test installs it (Makefile APT_PACKAGES); a missing tool is a broken set-up, not a skip
        raise RuntimeError(f"{name} is not installed: run `make test` (it installs flite and espeak-ng)")
    return path


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def say(speech_dir):
    """say("where is my order") → that sentence spoken by flite, as 16 kHz mono Audio (cached on disk)."""

    def make(text: str, voice: str = "slt") -> Audio:
        path = speech_dir / f"flite-{voice}-{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
        if not path.exists():
            subprocess.run([_tool("flite"), "-voice", voice, "-t", text, "-o", str(path)], check=True)
        return read_wav(path)

    return make


@pytest.fixture(scope="session")
def say_korean(speech_dir):
    def make(text: str) -> Audio:
        path = speech_dir / f"espeak-ko-{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
        if not path.exists():
            subprocess.run([_tool("espeak-ng"), "-v", "ko", "-w", str(path), text], check=True)
        return read_wav(path)

    return make


@pytest.fixture
def sphinx():
    """A fresh decoder per test: pocketsphinx adapts its cepstral mean over the utterances it has heard, so word
    confidences depend on what an earlier test said (0.43 vs 0.64 for the same clean sentence)."""
    from voice.stt import SphinxSTT

    return SphinxSTT()


def call(*parts: Audio | float) -> Audio:
    """A caller's recording: utterances and pauses (seconds of silence) in order."""
    return Audio.concat([p if isinstance(p, Audio) else Audio.silence(p) for p in parts], 16_000)
