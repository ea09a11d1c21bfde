"""A local HTTP server that speaks Ollama's protocol (/api/chat, /api/tags, /api/version), for the tests.

No model runs: each /api/chat answers with the `content` the test set (or a behaviour: slow,
HTTP error). Every request is kept - path, headers and the raw body - so a test can prove what
reached the server (and what never did). Used through the real `ollama` client.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD_ANSWER = {
    "summary": "Container mqtt exited with code 1 right after start.",
    "likely_cause": "The log says the config file is missing: 'Error: unable to open /mosquitto/config'.",
    "confidence": "medium",
    "checks_before_approving": ["Is /mosquitto/config mounted on the host?", "Did the image change recently?"],
    "fix_fits": "unsure",
    "why": "Starting it again will fail the same way unless the config is back.",
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class OllamaServer:
    models: list[str] = field(default_factory=lambda: ["llama3.2:latest"])
    content: str = json.dumps(GOOD_ANSWER)
    delay: float = 0.0
    status: int = 200
    version: str = "0.6.8"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        handler = _handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def answer(self, doc: dict[str, Any]) -> None:
        self.content = json.dumps(doc)

    def chats(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/api/chat"]

    def everything_received(self) -> bytes:
        """Every byte of every request (headers and bodies): what a secret must never be in."""
        return b"\n".join(r.path.encode() + json.dumps(r.headers).encode() + b"\n" + r.body for r in self.requests)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _model_known(server: OllamaServer, name: str) -> bool:
    return name in server.models or f"{name}:latest" in server.models


def _handler(server: OllamaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def _record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec = Recorded(self.command, self.path, dict(self.headers.items()), body)
            server.requests.append(rec)
            return rec

        def do_GET(self) -> None:  # http.server's naming
            self._record()
            if self.path == "/api/version":
                self._send(200, {"version": server.version})
            elif self.path == "/api/tags":
                models = [{"name": m, "model": m, "size": 1, "digest": "0" * 64} for m in server.models]
                self._send(200, {"models": models})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            rec = self._record()
            if self.path != "/api/chat":
                self._send(404, {"error": "not found"})
                return
            request = rec.json() or {}
            model = request.get("model", "")
            if not _model_known(server, model):
                self._send(404, {"error": f"model '{model}' not found"})
                return
            if server.delay:
                time.sleep(server.delay)
            if server.status != 200:
                self._send(server.status, {"error": "something broke inside the server"})
                return
            self._send(
                200,
                {
                    "model": model,
                    "created_at": "2026-11-27T04:00:00Z",
                    "message": {"role": "assistant", "content": server.content},
                    "done": True,
                    "done_reason": "stop",
                    "total_duration": 1,
                    "eval_count": 1,
                },
            )

    return Handler


def closed_port_url() -> str:
    """A URL on which nothing listens (the server down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
