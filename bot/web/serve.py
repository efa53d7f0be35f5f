"""Running the web app: one process, or several uvicorn workers on the same database.

Each worker builds its own engine (graph, rails, NLU) over the shared database, which holds everything a request
may need from another worker: checkpoints, the conversation log, the queue, tokens and console sessions. The
embedded LLM is started once, in the parent, and the workers reach it over loopback like any OpenAI-compatible
endpoint (one model in memory, one scheduler for its slots, instead of one per worker).
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import tempfile

import uvicorn
from fastapi import FastAPI

from bot.config import Settings, load_settings

# The parent passes these to its workers (they are spawned, and read their configuration from the environment).
_LLM_ENV = "BOT_SERVE_LLM"  # "stub": no model (demos, tests)


def _logging() -> None:
    """JSON lines on stderr unless BOT_LOG_FORMAT=text (bot/logs.py); the access log at INFO. uvicorn's own loggers
    are left unconfigured (`log_config=None`) so its errors go through the same scrubbing formatter."""
    from bot.logs import configure

    configure("json", logging.WARNING, levels={"bot.web.access": logging.INFO}, force=True)


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
                    log_config=None, timeout_graceful_shutdown=5)
        return
    os.environ[_LLM_ENV] = llm
    if llm != "stub" and settings.embedded:
        from bot.cli import connect_llm

        client = connect_llm(settings, parallel=min(4, max(2, workers)))  # stays up in this process
        os.environ["BOT_LLM_BASE_URL"] = client.base_url
        os.environ["BOT_LLM_MODEL"] = client.model
        os.environ["BOT_LLM_LANGUAGES"] = ",".join(settings.llm_languages)
    # The workers' HTTP counters go to files in one directory, so /metrics sums them whichever worker answers.
    shared = None if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else tempfile.mkdtemp(prefix="csbot-metrics-")
    if shared:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
    # uvicorn's supervisor kills a worker that does not answer its ping in `timeout_worker_healthcheck` (5 s by
    # default): a worker building its engine (rails, classifier) on a busy machine holds the GIL that long, and was
    # killed and restarted in a loop. A hung worker is now found after a minute instead.
    patience = ({"timeout_worker_healthcheck": 60}
                if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters else {})
    try:
        uvicorn.run("bot.web.serve:worker_app", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_level="warning", log_config=None, timeout_graceful_shutdown=5, **patience)
    finally:
        if shared:
            shutil.rmtree(shared, ignore_errors=True)
