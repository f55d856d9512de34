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
        self._writers: set[asyncio.StreamWriter] = set()

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
            server = await asyncio.start_server(self._connection, "127.0.0.1", self._port, backlog=2048)
            self._port = server.sockets[0].getsockname()[1]
            self._loop = asyncio.get_running_loop()
        except BaseException as exc:  # surfaced to start() in the caller's thread
            self._error = exc
            raise
        finally:
            self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()
            for writer in list(self._writers):
                writer.close()  # idle keep-alive connections would otherwise hold wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):  # ValueError: a line over 64 KiB
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should close."""
        line = await reader.readline()
        if not line.strip():
            return False
        parts = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "0")
        problem = None
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            problem = Response(400)
        elif "transfer-encoding" in headers or not length.isdigit():
            problem = Response(411)  # stand-in clients always send Content-Length
        elif int(length) > self.max_body:
            problem = Response(413)
        if problem is not None:
            writer.write(_encode(problem, keep_alive=False))
            await writer.drain()
            return False
        body = await reader.readexactly(int(length))
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        method, target, version = parts
        request = Request(method, target.split("?", 1)[0], headers, body)
        try:
            response = self.handler(request)
        except Exception as exc:  # a stand-in bug answers 500 (visible in tests) instead of hanging up
            response = Response.json(500, {"reason": f"stand-in error: {type(exc).__name__}"})
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        writer.write(_encode(response, keep_alive))
        await writer.drain()
        return keep_alive
