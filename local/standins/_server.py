"""A tiny HTTP/1.1 server on 127.0.0.1 for provider stand-ins: free port, start/stop, artificial latency.

It runs an asyncio loop in its own thread, so one thread serves every keep-alive connection: a
thread per connection (http.server) fell to ~200 requests/s at 50 connections from GIL contention.
The handler is a plain function Request -> Response, called on that loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})}
        )


Handler = Callable[[Request], Response]


def _encode(response: Response, keep_alive: bool) -> bytes:
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {phrase}", f"Content-Length: {len(response.body)}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class LocalHTTPServer:
    """Serves `handler` on 127.0.0.1 (a free port unless `port` is given) from a background thread."""

    def __init__(
        self, handler: Handler, *, latency: float = 0.0, port: int = 0, max_body: int = 1 << 20
    ) -> None:
        self.handler = handler
        self.latency = latency  # seconds added before every answer (read on each request)
        self.max_body = max_body
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._connections: set[_Connection] = set()
        self.bytes_received = 0  # request bytes as they arrived on the socket (headers and bodies)

    @property
    def port(self) -> int:
        if self._thread is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            self._ready.clear()
            self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
            self._thread.start()
            self._ready.wait(10)
            if self._error is not None or self._loop is None:
                self._thread = None
                raise RuntimeError("stand-in server did not start") from self._error
        return self

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=10)
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self) -> None:
        try:
            self._stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            server = await loop.create_server(
                lambda: _Connection(self), "127.0.0.1", self._port, backlog=2048
            )
            self._port = server.sockets[0].getsockname()[1]
            self._loop = loop
        except BaseException as exc:  # surfaced to start() in the caller's thread
            self._error = exc
            raise
        finally:
            self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()
            for connection in list(self._connections):
                connection.close()  # idle keep-alive connections would otherwise hold wait_closed()


class _Connection(asyncio.Protocol):
    """One client connection, parsed as bytes arrive: streams' readline per header cost ~3x the CPU.

    Requests are answered one at a time and in order (a pipelining client waits its turn); the
    latency is a timer, not a sleeping task.
    """

    def __init__(self, server: LocalHTTPServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False  # a request is waiting out its latency

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self.transport = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.server.bytes_received += len(data)
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        """Serve every complete request in the buffer (until one has to wait for its latency)."""
        while self.transport is not None and not self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:  # a head over 64 KiB
                    self.close()
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            parts = lines[0].split()
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = headers.get("content-length", "0")
            problem = None
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                problem = Response(400)
            elif "transfer-encoding" in headers or not length.isdigit():
                problem = Response(411)  # stand-in clients always send Content-Length
            elif int(length) > self.server.max_body:
                problem = Response(413)
            if problem is not None:
                self.transport.write(_encode(problem, keep_alive=False))
                self.close()
                return
            if len(self.buffer) < end + 4 + int(length):
                return  # the body is still arriving
            body = bytes(self.buffer[end + 4 : end + 4 + int(length)])
            del self.buffer[: end + 4 + int(length)]
            method, target, version = parts
            request = Request(method, target.split("?", 1)[0], headers, body)
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            if self.server.latency > 0:
                self.busy = True
                asyncio.get_running_loop().call_later(self.server.latency, self._answer, request, keep_alive)
                return
            self._answer(request, keep_alive)

    def _answer(self, request: Request, keep_alive: bool) -> None:
        self.busy = False
        try:
            response = self.server.handler(request)
        except Exception as exc:  # a stand-in bug answers 500 (visible in tests) instead of hanging up
            response = Response.json(500, {"reason": f"stand-in error: {type(exc).__name__}"})
        if self.transport is None:
            return
        self.transport.write(_encode(response, keep_alive))
        if not keep_alive:
            self.close()
        elif self.buffer:
            self._next()


class ServedStandIn:
    """Lifecycle shared by stand-ins served by a LocalHTTPServer (set as `self._http`)."""

    _http: LocalHTTPServer

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self._http.base_url  # RuntimeError until started

    @property
    def latency(self) -> float:
        """Seconds added before every answer; may be changed while running."""
        return self._http.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._http.latency = seconds
