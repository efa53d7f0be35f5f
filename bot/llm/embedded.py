"""The embedded LLM: an in-process llama.cpp server (xllamacpp) on 127.0.0.1.

It speaks the OpenAI protocol, so the rest of the bot talks to it through the same `openai` client as to any remote
endpoint; only the base URL differs. One server per process, started lazily and shared (llama.cpp keeps the prompt
cache per slot, which is what makes a stable system-prompt prefix cheap on the second turn).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.llm.model_files import ModelFileError, check_gguf

_lock = threading.Lock()
_servers: dict[tuple[str, int, int], "EmbeddedServer"] = {}


@dataclass
class EmbeddedServer:
    """A running llama.cpp server. `base_url` is OpenAI-compatible (ends in /v1)."""

    model_path: Path
    base_url: str
    _server: object  # keeps the xllamacpp.Server alive for the life of the process


def _threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def start(model_path: Path, n_ctx: int = 8192, n_parallel: int = 2) -> EmbeddedServer:
    """Start (once per process and model) and return the embedded server.

    `n_ctx` is shared by the `n_parallel` slots; 8192/2 leaves each conversation 4096 tokens, which the prompt
    builder never exceeds. Raises :class:`ModelFileError` with a readable message when the model cannot be loaded.
    """
    key = (str(model_path.resolve()), n_ctx, n_parallel)
    with _lock:
        if key in _servers:
            return _servers[key]
        check_gguf(model_path)
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_ctx = n_ctx
        params.n_parallel = n_parallel
        params.cpuparams.n_threads = _threads()
        params.cpuparams_batch.n_threads = _threads()
        params.verbosity = -1
        params.port = 0  # any free port on loopback
        params.hostnames = ["127.0.0.1"]  # loopback only, never a public interface
        params.cache_prompt = True
        params.cache_ram_mib = 1024  # host-memory copies of idle slots' prompts: alternating conversations stay warm
        params.warmup = True
        params.offline = True
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # the C++ side reports load failures as generic exceptions
            raise ModelFileError(f"the LLM could not load {model_path}: {exc}") from None
        address = server.listening_address
        if not address.startswith("http"):
            address = f"http://{address}"
        embedded = EmbeddedServer(model_path=model_path, base_url=f"{address}/v1", _server=server)
        _servers[key] = embedded
        return embedded
