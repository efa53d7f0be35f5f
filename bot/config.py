"""Configuration from the environment (and `.env`), as fixed by ../shared/CONTRACTS.md §2.

Only names listed in the contract, plus a few clearly-prefixed extensions (`BOT_DATA_DIR`, `BOT_POLICY_DIR`,
`BOT_LLM_TIMEOUT`, `BOT_LLM_LANGUAGES`, `BOT_STORE_DB`, `BOT_AGENTS_FILE`, `BOT_WEB_CUSTOMER_SECRET`), are read.
Everything is resolved once into an immutable
:class:`Settings` so that the rest of the code never touches `os.environ`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

#: The repository checkout this package runs from (editable install), if any.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

EMBEDDED_MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and how to fix it."""


def _default_data_dir() -> Path:
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "var"
    return Path.home() / ".local" / "share" / "csbot"


def _default_policy_dir() -> Path:
    return PROJECT_ROOT / "guardrails"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`load_settings`; tests build it directly."""

    data_dir: Path = field(default_factory=_default_data_dir)
    policy_dir: Path = field(default_factory=_default_policy_dir)
    db_url: str = ""
    db_pool_size: int = 10  # PostgreSQL connections per worker process, per pool (log and checkpoints)
    store_db: Path | None = None
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    local_model: Path | None = None
    llm_timeout_s: float = 60.0
    llm_languages: tuple[str, ...] = ("en",)
    vosk_model_path: Path | None = None
    agents_file: Path | None = None  # agent accounts of `bot serve` (default: data_dir/agents.json)
    web_customer_secret: str | None = None  # the store site's key for signing logged-in customer ids (web chat)
    rails: bool = True  # the guardrail layer (bot/rails); only tests of the bare engine turn it off
    mode: str | None = None  # BOT_MODE: every new conversation in this operating mode (overrides modes.yaml cohorts)
    intent_model: Path | None = None  # BOT_INTENT_MODEL: pin one saved intent model (default: `bot train`'s, shipped)

    @property
    def embedded(self) -> bool:
        """True when no endpoint is configured and the in-process llama.cpp server is used."""
        return not self.llm_base_url

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def embedded_model_path(self) -> Path:
        return self.local_model or self.models_dir / f"{EMBEDDED_MODEL_NAME}.gguf"

    @property
    def db_path(self) -> Path:
        """The SQLite file behind `db_url` (only for sqlite URLs)."""
        if not self.db_url.startswith("sqlite:///"):
            raise ConfigError(f"BOT_DB_URL={self.db_url!r} is not a sqlite:/// URL")
        return Path(self.db_url.removeprefix("sqlite:///"))

    @property
    def agents_path(self) -> Path:
        return self.agents_file or self.data_dir / "agents.json"

    @property
    def store_path(self) -> Path:
        return self.store_db or self.data_dir / "demo_store.sqlite"


def load_settings(env: dict[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Read settings from `env` (default: `os.environ`) layered over `.env` in the working directory."""
    merged: dict[str, str] = {}
    path = dotenv_path if dotenv_path is not None else Path.cwd() / ".env"
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ if env is None else env)

    def get(name: str) -> str | None:
        value = merged.get(name, "").strip()
        return value or None

    data_dir = Path(get("BOT_DATA_DIR") or _default_data_dir()).expanduser()
    db_url = get("BOT_DB_URL") or f"sqlite:///{data_dir / 'bot.sqlite'}"
    if not (db_url.startswith("sqlite:///") or db_url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(
            f"BOT_DB_URL={db_url!r}: expected sqlite:///path/to/file.sqlite or postgresql://user@host/db"
        )
    pool = get("BOT_DB_POOL_SIZE") or "10"
    if not pool.isdigit() or not 1 <= int(pool) <= 200:
        raise ConfigError(f"BOT_DB_POOL_SIZE={pool!r}: expected a whole number of connections from 1 to 200")
    timeout = get("BOT_LLM_TIMEOUT") or "60"
    try:
        timeout_s = float(timeout)
    except ValueError:
        raise ConfigError(f"BOT_LLM_TIMEOUT={timeout!r} is not a number of seconds") from None
    base_url = get("BOT_LLM_BASE_URL")
    languages = get("BOT_LLM_LANGUAGES") or ("en" if not base_url else "*")
    local_model = get("BOT_LOCAL_MODEL")
    vosk = get("VOSK_MODEL_PATH")
    store_db = get("BOT_STORE_DB")
    mode = get("BOT_MODE")
    intent_model = get("BOT_INTENT_MODEL")
    if intent_model is not None and not Path(intent_model).expanduser().is_file():
        raise ConfigError(f"BOT_INTENT_MODEL={intent_model!r}: no such model file (a .npz written by `bot train`)")
    if mode is not None and mode not in ("ai_first", "human_led", "hybrid"):
        raise ConfigError(f"BOT_MODE={mode!r}: expected ai_first, human_led or hybrid"
                          " (or unset: guardrails/modes.yaml)")
    return Settings(
        data_dir=data_dir,
        policy_dir=Path(get("BOT_POLICY_DIR") or _default_policy_dir()).expanduser(),
        db_url=db_url,
        db_pool_size=int(pool),
        store_db=Path(store_db).expanduser() if store_db else None,
        llm_base_url=base_url,
        llm_model=get("BOT_LLM_MODEL"),
        llm_api_key=get("BOT_LLM_API_KEY") or get("OPENAI_API_KEY"),
        local_model=Path(local_model).expanduser() if local_model else None,
        llm_timeout_s=timeout_s,
        llm_languages=tuple(x.strip().lower() for x in languages.split(",") if x.strip()),
        vosk_model_path=Path(vosk).expanduser() if vosk else None,
        agents_file=Path(agents).expanduser() if (agents := get("BOT_AGENTS_FILE")) else None,
        web_customer_secret=get("BOT_WEB_CUSTOMER_SECRET"),
        mode=mode,
        intent_model=Path(intent_model).expanduser() if intent_model else None,
    )
