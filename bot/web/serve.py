"""Running the web app: one process, or several uvicorn workers on the same database.

Each worker builds its own engine (graph, rails, NLU) over the shared database, which holds everything a request
may need from another worker: checkpoints, the conversation log, the queue, tokens and console sessions. The
embedded LLM is started once, in the parent, and the workers reach it over loopback like any OpenAI-compatible
endpoint (one model in memory, one scheduler for its slots, instead of one per worker).
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from fastapi import FastAPI

from bot.config import Settings, load_settings

# The parent passes these to its workers (they are spawned, and read their configuration from the environment).
_LLM_ENV = "BOT_SERVE_LLM"  # "stub": no model (demos, tests)


def _logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot.web.access").setLevel(logging.INFO)
    for noisy in ("httpx", "openai", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _llm(settings: Settings):  # type: ignore[no-untyped-def]
    if os.environ.get(_LLM_ENV) == "stub":
        from bot.llm.stub import StubLLM

        return StubLLM()
    from bot.llm import connect

    return connect(settings)


def worker_app() -> FastAPI:
    """uvicorn's factory in each worker process."""
    from bot.engine import Engine
    from bot.web.app import create_app

    _logging()
    settings = load_settings()
    engine = Engine.from_settings(settings, _llm(settings))
    engine.warm()
    return create_app(engine, settings)


def serve(settings: Settings, host: str, port: int, workers: int, llm: str, engine=None) -> None:  # type: ignore[no-untyped-def]
    """Serve until interrupted. With one worker the given `engine` serves in this process."""
    _logging()
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    if workers <= 1:
        from bot.web.app import create_app

        assert engine is not None
        uvicorn.run(create_app(engine, settings), host=host, port=port, access_log=False, log_level="warning",
                    timeout_graceful_shutdown=5)
        return
    os.environ[_LLM_ENV] = llm
    if llm != "stub" and settings.embedded:
        from bot.cli import connect_llm

        client = connect_llm(settings, parallel=min(4, max(2, workers)))  # stays up in this process
        os.environ["BOT_LLM_BASE_URL"] = client.base_url
        os.environ["BOT_LLM_MODEL"] = client.model
        os.environ["BOT_LLM_LANGUAGES"] = ",".join(settings.llm_languages)
    uvicorn.run("bot.web.serve:worker_app", factory=True, host=host, port=port, workers=workers, access_log=False,
                log_level="warning", timeout_graceful_shutdown=5)
