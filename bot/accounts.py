"""Agent accounts: who may use the agent console and the agent API, with hashed passwords and API tokens.

The accounts live in one JSON file (`$BOT_DATA_DIR/agents.json`, or `BOT_AGENTS_FILE`), written by
`bot agent user` with mode 0600 and never holding a secret in clear: passwords are scrypt hashes (salted, memory-hard, in the
standard library), API tokens are SHA-256 digests (a token is 256 random bits, so a fast hash is enough). Every
`bot serve` worker reads the same file, and re-reads it when it changes, so adding an agent needs no restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "agt_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms and 16 MB per check: cheap for a login, costly for a guesser


class AccountError(ValueError):
    """A bad account name, a weak password, an unreadable accounts file (the message says which)."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A login for an unknown name still pays one scrypt, so the answer time does not tell which names exist.
_DUMMY = hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class Agent:
    name: str
    password: str | None = None  # scrypt hash
    tokens: tuple[str, ...] = ()  # SHA-256 digests of API tokens
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {"agent": self.name, "skills": list(self.skills), "languages": list(self.languages)}


@dataclass
class Accounts:
    """The accounts file. Reads are cached by the file's modification time; writes replace the file atomically."""

    path: Path
    _cache: tuple[float, dict[str, Agent]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- reading --------------------------------------------------------------------------------------------------
    def agents(self) -> dict[str, Agent]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._cache is None or self._cache[0] != mtime:
                self._cache = (mtime, self._read())
            return self._cache[1]

    def _read(self) -> dict[str, Agent]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: Agent(name=name, password=a.get("password"), tokens=tuple(a.get("tokens", ())),
                                skills=tuple(a.get("skills", ())), languages=tuple(a.get("languages", ())))
                    for name, a in data["agents"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AccountError(f"cannot read the agent accounts in {self.path}: {exc}") from None

    def login(self, name: str, password: str) -> Agent | None:
        """The agent when `password` is theirs; None otherwise (same work either way)."""
        agent = self.agents().get(name.strip().lower())
        ok = check_password(password, agent.password if agent and agent.password else _DUMMY)
        return agent if ok and agent is not None and agent.password else None

    def by_token(self, token: str) -> Agent | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = token_digest(token)
        found = None
        for agent in self.agents().values():
            for known in agent.tokens:
                if hmac.compare_digest(known, digest):
                    found = agent
        return found

    # -- writing (bot agent user ...) -------------------------------------------------------------------------------
    def add(self, name: str, password: str | None, skills: tuple[str, ...] = (),
            languages: tuple[str, ...] = ()) -> Agent:
        name = name.strip().lower()
        if not NAME.match(name):
            raise AccountError(f"agent name {name!r}: use 1-40 lower-case letters, digits, '.', '_' or '-'")
        agents = dict(self.agents())
        old = agents.get(name)
        if password is not None:
            _check_strength(password, name)
        agent = Agent(name=name, password=hash_password(password) if password is not None else (old and old.password),
                      tokens=old.tokens if old else (), skills=skills or (old.skills if old else ()),
                      languages=languages or (old.languages if old else ()))
        agents[name] = agent
        self._write(agents)
        return agent

    def new_token(self, name: str) -> str:
        """A new API token for `name` (shown once; only its digest is stored)."""
        agents = dict(self.agents())
        if name not in agents:
            raise AccountError(f"no agent {name!r}; add one with: bot agent user add {name}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        old = agents[name]
        agents[name] = Agent(old.name, old.password, old.tokens + (token_digest(token),), old.skills, old.languages)
        self._write(agents)
        return token

    def remove(self, name: str) -> None:
        agents = dict(self.agents())
        if agents.pop(name, None) is None:
            raise AccountError(f"no agent {name!r}")
        self._write(agents)

    def _write(self, agents: dict[str, Agent]) -> None:
        data = {"agents": {a.name: {"password": a.password, "tokens": list(a.tokens), "skills": list(a.skills),
                                    "languages": list(a.languages)} for a in agents.values()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, self.path)
        with self._lock:
            self._cache = None


def _check_strength(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if name in password.lower() or len(set(password)) < 4:
        raise AccountError("the password is too easy to guess (it contains the name or repeats few characters)")

