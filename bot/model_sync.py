"""The activated intent model follows the database, so every host of a deployment runs the same one.

`bot train` activates a model in the data directory of the machine it runs on (:mod:`bot.nlu.registry`:
``nlu/trained/<file>`` + ``nlu/active.json``) and publishes it here: the file's bytes in ``intent_models`` and the
choice in ``intent_model_active`` (a rollback publishes the model it went back to, or NULL for the shipped one). Every
engine then checks that row at most every `every_s` seconds (one indexed read) and, when it differs from its own
``active.json``, writes the file and activates it locally — the NLU's `stat` of ``active.json`` picks it up on the
next message. So the database is the source of truth and each data directory a cache of it.

A database that never saw `bot train` has no row: nothing is changed locally (a host's own activation, or a pinned
model, stays). A published model whose bytes do not match their SHA-256 is refused with a warning; one trained beside
other shipped data is activated and then refused by the registry like any other (the shipped model runs).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bot.nlu import registry

log = logging.getLogger(__name__)

CHECK_EVERY_S = 30.0


def publish(db: Any, cache_dir: Path, clock: Callable[[], float] = time.time) -> None:
    """Make the database say what `cache_dir`'s ``active.json`` says (after `bot train` activated or rolled back)."""
    active = registry.read_active(cache_dir)
    with db.transaction() as conn:
        if active is not None:
            path = active.path(cache_dir)
            conn.execute(
                "INSERT INTO intent_models (sha256, name, base_key, model, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (sha256) DO NOTHING",
                (active.sha256, path.name, active.base_key, path.read_bytes(), clock()),
            )
        conn.execute(
            "INSERT INTO intent_model_active (id, sha256, changed_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET sha256 = excluded.sha256, changed_at = excluded.changed_at",
            (active.sha256 if active else None, clock()),
        )


class ModelSync:
    """Keeps one data directory's active intent model equal to the database's (see the module docstring)."""

    def __init__(self, db: Any, cache_dir: Path, every_s: float = CHECK_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.cache_dir, self.every_s, self.clock = db, Path(cache_dir), every_s, clock
        self._next = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Follow the database if it is time to look (cheap otherwise); never raises (a failure is logged)."""
        now = self.clock()
        if now < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            self._next = now + self.every_s
            self._follow()
        except Exception:  # noqa: BLE001 - the turn must go on with the model it has
            log.warning("could not follow the intent model chosen in the database", exc_info=True)
        finally:
            self._lock.release()

    def _follow(self) -> None:
        with self.db.reading() as conn:
            row = conn.execute("SELECT sha256 FROM intent_model_active WHERE id = 1").fetchone()
        if row is None:
            return  # `bot train` never ran against this database: leave the local choice alone
        wanted = row[0]
        try:
            local = registry.read_active(self.cache_dir)
        except ValueError:
            local = None
        if wanted == (local.sha256 if local else None):
            return
        if wanted is None:
            (self.cache_dir / registry.ACTIVE).unlink(missing_ok=True)
            log.info("intent model: back to the shipped one, as chosen in the database")
            return
        with self.db.reading() as conn:
            found = conn.execute("SELECT name, base_key, model FROM intent_models WHERE sha256 = ?",
                                 (wanted,)).fetchone()
        if found is None:
            log.warning("intent model %s is chosen in the database but not stored there", wanted[:12])
            return
        name, base_key, blob = found
        path = self.cache_dir / registry.TRAINED / Path(name).name
        if not path.is_file() or registry.sha256(path) != wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)  # workers race here
            partial = Path(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(blob))
            if registry.sha256(partial) != wanted:
                partial.unlink(missing_ok=True)
                log.warning("intent model %s in the database does not match its SHA-256: not used", wanted[:12])
                return
            os.chmod(partial, 0o644)
            os.replace(partial, path)
        registry.activate(self.cache_dir, path, base_key, {"from": "database"})
        log.info("intent model: %s, as chosen in the database", path.name)
