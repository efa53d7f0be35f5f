"""Which intent model the bot runs: the shipped one, or one `bot train` retrained from agents' corrections.

The shipped model is trained at set-up from bot/nlu/data/intents.yaml + CLINC150 and cached by the hash of its inputs
(:func:`bot.nlu.intents.cache_key`). A retrained model lives beside it, under ``<cache_dir>/trained/<id>.npz``, and
is in use only while ``<cache_dir>/active.json`` names it. That file is written last and atomically by
:func:`activate`, so a process reading it sees the old model or the new one, never half of one; running processes
notice a new ``active.json`` on their next message (a `stat` per message) and switch.

An active model is refused (the shipped one is used, with a warning) when its file's SHA-256 differs from the one
recorded at activation (a truncated or replaced file) or when it was trained on other shipped data or code than the
running bot's (``base_key``): after an upgrade the corrections must be trained again on the new base (`bot train`),
never silently mixed with an older one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.nlu.intents import IntentClassifier

log = logging.getLogger(__name__)

ACTIVE = "active.json"
TRAINED = "trained"


@dataclass(frozen=True)
class Active:
    """The record of the activated model (``active.json``)."""

    model: str  # path relative to the cache dir
    sha256: str
    base_key: str  # the shipped model's cache key it was trained beside
    activated_at: float
    info: dict[str, Any]  # corrections, flags, the before/after report's summary, the previous active model

    def path(self, cache_dir: Path) -> Path:
        return Path(cache_dir) / self.model


def signature(cache_dir: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of ``active.json``, None when there is none: cheap enough to check on every message."""
    try:
        st = os.stat(Path(cache_dir) / ACTIVE)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_mtime_ns, st.st_size)


def read_active(cache_dir: Path) -> Active | None:
    """The activation record, None when the shipped model is in use. ValueError when the file is unreadable."""
    path = Path(cache_dir) / ACTIVE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Active(model=str(raw["model"]), sha256=str(raw["sha256"]), base_key=str(raw["base_key"]),
                      activated_at=float(raw["activated_at"]), info=dict(raw.get("info") or {}))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid activation record ({type(exc).__name__}: {exc})") from None


def load_active(cache_dir: Path, base_key: str) -> tuple[IntentClassifier, Active] | None:
    """The active retrained model, or None (shipped model) when there is none or it must not be used (logged)."""
    try:
        active = read_active(cache_dir)
    except ValueError as exc:
        log.warning("%s; using the shipped intent model", exc)
        return None
    if active is None:
        return None
    path = active.path(cache_dir)
    problem = None
    if active.base_key != base_key:
        problem = "it was trained beside other shipped data or code (run `bot train` again)"
    elif not path.is_file():
        problem = f"{path} is missing"
    elif sha256(path) != active.sha256:
        problem = f"{path} does not match the SHA-256 recorded when it was activated"
    if problem is None:
        try:
            return IntentClassifier.load(path), active
        except Exception as exc:  # noqa: BLE001 - a corrupt file must not stop the bot
            problem = f"{path} is unreadable ({type(exc).__name__}: {exc})"
    log.warning("retrained intent model not used: %s; using the shipped model", problem)
    return None


def save_candidate(cache_dir: Path, model: IntentClassifier) -> Path:
    """Write a trained model under ``trained/`` (not yet active); its name is its content's hash."""
    directory = Path(cache_dir) / TRAINED
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="candidate.", suffix=".npz", dir=directory)
    os.close(fd)
    try:
        model.save(Path(tmp))
        digest = sha256(Path(tmp))
        final = directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{digest[:12]}.npz"
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def activate(cache_dir: Path, model_path: Path, base_key: str, info: dict[str, Any]) -> Active:
    """Make the saved model at `model_path` the one the bot runs (the previous record is kept in `info`)."""
    cache_dir = Path(cache_dir)
    try:
        previous = read_active(cache_dir)
    except ValueError:
        previous = None
    record = {
        "model": str(Path(model_path).resolve().relative_to(cache_dir.resolve())),
        "sha256": sha256(model_path),
        "base_key": base_key,
        "activated_at": time.time(),
        "info": dict(info, previous=_as_json(previous) if previous else None),
    }
    _write_json(cache_dir / ACTIVE, record)
    return read_active(cache_dir)  # type: ignore[return-value]


def rollback(cache_dir: Path) -> Active | None:
    """Go back to the model active before the current one (the shipped model when there was none). Returns the
    record now in force (None: shipped)."""
    cache_dir = Path(cache_dir)
    current = read_active(cache_dir)
    if current is None:
        raise ValueError("the shipped intent model is in use already: nothing to roll back")
    previous = current.info.get("previous")
    if previous:
        _write_json(cache_dir / ACTIVE, previous)
        return read_active(cache_dir)
    (cache_dir / ACTIVE).unlink()
    return None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _as_json(active: Active) -> dict[str, Any]:
    return {"model": active.model, "sha256": active.sha256, "base_key": active.base_key,
            "activated_at": active.activated_at, "info": active.info}


def _write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
