"""Model assembly and verification, on small synthetic parts (the real 491 MB file is checked by `make model`)."""

from __future__ import annotations

import hashlib

import pytest

from bot.llm import model_files
from bot.llm.model_files import ModelFileError, ModelSpec, assemble, check_gguf, is_verified


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 70]
    names = []
    for i, data in enumerate(chunks, start=1):
        pkg = tmp_path / "site" / f"fake_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        names.append(f"fake_part{i}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(chunks)
    return ModelSpec("fake", tuple(names), len(whole), hashlib.sha256(whole).hexdigest())


def test_assemble_verifies_and_is_idempotent(tmp_path, fake_parts):
    target = tmp_path / "models" / "m.gguf"
    seen = []
    assemble(target, fake_parts, progress=seen.append)
    assert target.stat().st_size == fake_parts.size and sum(seen) == fake_parts.size
    assert is_verified(target, fake_parts)
    mtime = target.stat().st_mtime_ns
    assemble(target, fake_parts)
    assert target.stat().st_mtime_ns == mtime  # kept, not rewritten
    check_gguf(target)


def test_corrupt_file_is_detected(tmp_path, fake_parts):
    target = tmp_path / "m.gguf"
    assemble(target, fake_parts)
    data = bytearray(target.read_bytes())
    data[10] ^= 0xFF
    target.write_bytes(bytes(data))
    assert not is_verified(target, fake_parts)


def test_wrong_parts_are_refused_and_leave_nothing(tmp_path, fake_parts):
    wrong = ModelSpec("fake", fake_parts.packages, fake_parts.size, "0" * 64)
    target = tmp_path / "m.gguf"
    with pytest.raises(ModelFileError, match="does not match"):
        assemble(target, wrong)
    assert not target.exists() and not (tmp_path / "m.gguf.partial").exists()


def test_missing_part_names_the_package(tmp_path):
    spec = ModelSpec("fake", ("no_such_model_part_pkg",), 1, "0" * 64)
    with pytest.raises(ModelFileError, match="no-such-model-part-pkg"):
        assemble(tmp_path / "m.gguf", spec)


def test_check_gguf_messages(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        check_gguf(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"x" * 10)
    with pytest.raises(ModelFileError, match="not a GGUF"):
        check_gguf(bad)


def test_default_spec_is_pinned():
    assert model_files.DEFAULT_MODEL.size == 491_400_064
    assert model_files.DEFAULT_MODEL.sha256.startswith("1d9614638d18")
