"""LLM access: one `openai` client over either a configured endpoint or the embedded llama.cpp server."""

from __future__ import annotations

from bot.config import EMBEDDED_MODEL_NAME, Settings
from bot.llm.client import LLMClient, LLMError, LLMUsage, track_usage
from bot.llm.model_files import ModelFileError

__all__ = ["LLMClient", "LLMError", "LLMUsage", "ModelFileError", "connect", "track_usage"]


def connect(settings: Settings, progress=None, parallel: int = 2) -> LLMClient:  # type: ignore[no-untyped-def]
    """Return a client for the configured endpoint, starting the embedded server when none is configured.

    `parallel`: conversations the embedded server decodes together (continuous batching; each gets 4096 tokens of
    context). Two suit an interactive process; a QA replay with more threads is faster with more.

    Raises :class:`ModelFileError` (embedded model missing or corrupt) with a message that says what to run.
    """
    if settings.llm_base_url:
        return LLMClient(
            settings.llm_base_url,
            settings.llm_model or "gpt-4o-mini",
            settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
            name=f"{settings.llm_model or 'gpt-4o-mini'} @ {settings.llm_base_url}",
        )
    from bot.llm import embedded, model_files

    path = settings.embedded_model_path
    if settings.local_model is None:
        model_files.ensure_default_model(path, progress)
    parallel = max(1, parallel)
    server = embedded.start(path, n_ctx=4096 * parallel, n_parallel=parallel)
    return LLMClient(
        server.base_url,
        settings.llm_model or EMBEDDED_MODEL_NAME,
        timeout_s=settings.llm_timeout_s,
        name=f"embedded {path.name}",
    )
