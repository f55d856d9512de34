"""A tiny threaded HTTP/1.1 server on 127.0.0.1 for provider stand-ins: free port, start/stop, latency."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open hundreds of connections at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any) -> None:
        super().__init__(address, handler)
        self.app = app
        self.latency = 0.0
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        # Keep-alive handler threads block reading their socket; shutting it down ends them.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class StandInHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler with helpers; `self.app` is the object that owns the server."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is dropped after this
    server: _Server

    @property
    def app(self) -> Any:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        pass  # thousands of requests per second: no per-request logging

    def read_body(self, limit: int = 1 << 20) -> bytes | None:
        """The request body, or None (and the connection closed) when it is larger than limit."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def simulate_latency(self) -> None:
        if self.server.latency > 0:
            time.sleep(self.server.latency)

    def respond(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)


class LocalHTTPServer:
    """Runs `handler` on 127.0.0.1 in a background thread; `app` is reachable from the handler."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], app: Any = None, *, latency: float = 0.0, port: int = 0
    ) -> None:
        self._handler = handler
        self._app = app
        self._latency = latency
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = seconds
        if self._server is not None:
            self._server.latency = seconds

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self._port), self._handler, self._app)
            self._server.latency = self._latency
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
