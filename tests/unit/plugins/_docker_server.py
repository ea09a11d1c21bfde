"""A real HTTP server on a unix socket that answers like the Docker Engine API.

Used by the unit tests of the stdlib Docker client: the client's own socket, HTTP and
JSON handling all run for real; only the engine's answers are recorded ones.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "docker_engine_api_1.41.json"


def load_engine() -> dict:
    return json.loads(FIXTURE.read_text())


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # Filled by FakeEngine: path -> (status, body bytes) and a request log.
    routes: dict[str, tuple[int, bytes]]
    requests: list[str]
    connections: int
    close_after_response: bool


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as dockerd does
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:  # http.server's naming
        self.server.requests.append(self.path)
        status, body = self.server.routes.get(self.path, (404, b'{"message":"page not found"}\n'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.close_after_response:
            # Drop the connection without announcing it, like an idle keep-alive timeout.
            self.close_connection = True

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        pass


class FakeEngine:
    """Serve ``routes`` on ``socket_path`` until ``close()``."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._server = _Server(socket_path, _Handler)
        self._server.routes = {}
        self._server.requests = []
        self._server.connections = 0
        self._server.close_after_response = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def docker_host(self) -> str:
        return "unix://" + self.socket_path

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    @property
    def connections(self) -> int:
        return self._server.connections

    def set_close_after_response(self, value: bool) -> None:
        self._server.close_after_response = value

    def route(self, path: str, status: int, body: object) -> None:
        raw = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self._server.routes[path] = (status, raw)

    def serve_engine(self, engine: dict) -> None:
        """Answer the listing and every inspect from a recorded engine document."""
        self.route("/containers/json?all=1", 200, engine["containers_json"])
        for cid, doc in engine["inspect"].items():
            self.route(f"/containers/{cid}/json", 200, doc)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
