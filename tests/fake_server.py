"""`FakeLLM` behind a real HTTP port, for tests that run the bot as a subprocess (`bot chat`, `bot agent`): the
child's `openai` client talks to it as to any OpenAI-compatible endpoint (BOT_LLM_BASE_URL), in milliseconds, so
those tests exercise the command line rather than wait on a model or on retries against a dead port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.fakes import FakeLLM


@contextmanager
def fake_llm_server(fake: FakeLLM | None = None) -> Iterator[str]:
    """Serve `fake` on a free loopback port; yields the base URL (ends in /v1)."""
    fake = fake or FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            response = fake.handler(httpx.Request("POST", f"http://fake{self.path}", content=body))
            content = response.read()
            self.send_response(response.status_code)
            for key in ("content-type", "retry-after"):
                if key in response.headers:
                    self.send_header(key, response.headers[key])
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
