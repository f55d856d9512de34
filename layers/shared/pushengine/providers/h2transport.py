"""HTTP/2 with the h2 library on an asyncio Protocol, as an httpx transport: few connections, many streams.

Kept because it earns its place: in `make bench` (README, "Transports") the engine's whole APNs send path
takes 1.9x less CPU per message on it than on stock httpx HTTP/2 (`http2=True` over the same h2 library,
two connections), whose connection takes locks and per-stream events over anyio; here each response is
one future, resolved straight from data_received. A request takes a stream on a connection with room
under the server's MAX_CONCURRENT_STREAMS, opens a connection while the origin has fewer than
`max_connections`, or waits for a stream to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Any

import httpx
from h2 import events
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError

# Connection-specific headers are forbidden in HTTP/2 (RFC 9113 8.2.2); Host travels as :authority.
_DROPPED = {b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}


class _Stream:
    __slots__ = ("body", "done", "headers", "pending")

    def __init__(self, done: asyncio.Future[None], pending: bytes) -> None:
        self.done = done
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.pending = pending  # request body the peer's flow-control window has not admitted yet


class _Origin:
    def __init__(self) -> None:
        self.conns: list[_Connection] = []
        self.waiters: deque[asyncio.Future[None]] = deque()

    def wake(self, everyone: bool = False) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not everyone:
                    return

    def drop(self, conn: _Connection) -> None:
        if conn in self.conns:
            self.conns.remove(conn)
        self.wake(everyone=True)  # waiters may now open a connection in its place


class _Connection(asyncio.Protocol):
    def __init__(self, origin: _Origin, max_streams: int) -> None:
        self.origin, self.max_streams = origin, max_streams
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.transport: asyncio.Transport | None = None
        # Set on the server's first SETTINGS (its stream limit is known from then on) or on loss.
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.streams: dict[int, _Stream] = {}
        self.usable = True

    def has_room(self) -> bool:
        limit = min(self.max_streams, self.h2.remote_settings.max_concurrent_streams)
        return self.usable and self.ready.done() and len(self.streams) < limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.h2.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection closed")
        if not self.ready.done():
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            received = self.h2.receive_data(data)
        except ProtocolError as exc:
            self._flush()  # h2 queued a GOAWAY for the server
            self._fail(f"HTTP/2 protocol error: {exc}")
            if self.transport is not None:
                self.transport.close()
            return
        for event in received:
            if isinstance(event, events.DataReceived):
                if (stream := self.streams.get(event.stream_id)) is not None:
                    stream.body += event.data
                # Acknowledge at once: bodies are whole in memory anyway, so the window only throttles.
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, events.ResponseReceived):
                if (stream := self.streams.get(event.stream_id)) is not None:
                    stream.headers = event.headers  # type: ignore[assignment]
            elif isinstance(event, events.StreamEnded):
                self._finish(event.stream_id, None)
            elif isinstance(event, events.StreamReset):
                self._finish(event.stream_id, f"stream reset by the server (error {event.error_code!r})")
            elif isinstance(event, events.WindowUpdated):
                for sid, stream in self.streams.items():
                    if stream.pending:
                        self._send_body(sid, stream)
            elif isinstance(event, events.RemoteSettingsChanged):
                if not self.ready.done():
                    self.ready.set_result(None)
                self.origin.wake(everyone=True)  # the stream limit may have grown
            elif isinstance(event, events.ConnectionTerminated):
                # h2 closes its state machine on GOAWAY and cannot read any later frame, so even the
                # streams at or below last_stream_id get no answer: fail them all (callers retry).
                self._fail(f"server sent GOAWAY (error {event.error_code!r})")
                if self.transport is not None:
                    self.transport.close()
        self._flush()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _finish(self, sid: int, error: str | None) -> None:
        stream = self.streams.pop(sid, None)
        if stream is None:
            return
        if stream.pending and error is None:  # answered before the whole body went out: stop sending it
            self.h2.reset_stream(sid, ErrorCodes.NO_ERROR)
        if not stream.done.done():
            if error is None:
                stream.done.set_result(None)
            else:
                stream.done.set_exception(httpx.RemoteProtocolError(error))
        self.origin.wake()

    def _fail(self, error: str) -> None:
        self.usable = False
        for sid in list(self.streams):
            self._finish(sid, error)
        self.origin.drop(self)

    def _send_body(self, sid: int, stream: _Stream) -> None:
        while stream.pending:
            size = min(
                self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size, len(stream.pending)
            )
            if size <= 0:
                return  # the rest goes out on the peer's WINDOW_UPDATE
            chunk, stream.pending = stream.pending[:size], stream.pending[size:]
            self.h2.send_data(sid, chunk, end_stream=not stream.pending)

    def open_stream(self, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, _Stream]:
        sid = self.h2.get_next_available_stream_id()
        stream = self.streams[sid] = _Stream(asyncio.get_running_loop().create_future(), body)
        try:
            self.h2.send_headers(sid, headers, end_stream=not body)
            self._send_body(sid, stream)
        except ProtocolError as exc:  # e.g. the server lowered its stream limit meanwhile
            self.streams.pop(sid, None)
            raise httpx.RemoteProtocolError(f"cannot open a stream: {exc!r}") from None
        self._flush()
        return sid, stream

    def cancel(self, sid: int) -> None:
        if self.streams.pop(sid, None) is not None and self.usable:
            with contextlib.suppress(ProtocolError):  # already closed on h2's side
                self.h2.reset_stream(sid, ErrorCodes.CANCEL)
            self._flush()
        self.origin.wake()


class H2Transport(httpx.AsyncBaseTransport):
    """HTTP/2 only: prior knowledge (h2c) for http://, ALPN "h2" for https://."""

    def __init__(
        self, *, max_connections: int = 2, max_streams: int = 1000, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._limit, self._max_streams, self._ssl = max_connections, max_streams, ssl_context
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])  # without it a TLS server would pick HTTP/1.1
        self._origins: dict[tuple[bytes, bytes, int | None], _Origin] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        origin = self._origins.get(key) or self._origins.setdefault(key, _Origin())
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = await request.aread()
        headers = [(b":method", request.method.encode()), (b":scheme", url.raw_scheme),
                   (b":authority", request.headers["host"].encode()), (b":path", url.raw_path)]  # fmt: skip
        headers += [(k.lower(), v) for k, v in request.headers.raw if k.lower() not in _DROPPED]
        conn = await self._acquire(origin, request, timeouts)
        try:
            sid, stream = conn.open_stream(headers, body)
        except httpx.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        try:
            async with asyncio.timeout(timeouts.get("read")):
                await stream.done
        except TimeoutError:
            conn.cancel(sid)
            raise httpx.ReadTimeout("no answer in time", request=request) from None
        except httpx.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
        except BaseException:
            conn.cancel(sid)
            raise
        status = next((int(v) for k, v in stream.headers if k == b":status"), 0)
        return httpx.Response(status, headers=[(k, v) for k, v in stream.headers if not k.startswith(b":")],
                              content=bytes(stream.body), request=request,
                              extensions={"http_version": b"HTTP/2"})  # fmt: skip

    async def _acquire(
        self, origin: _Origin, request: httpx.Request, timeouts: dict[str, Any]
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            for conn in origin.conns:
                if conn.has_room():
                    return conn
            if len(origin.conns) < self._limit:
                await self._connect(origin, request, timeouts.get("connect"))
                continue
            waiter = loop.create_future()
            origin.waiters.append(waiter)
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await waiter
            except TimeoutError:
                raise httpx.PoolTimeout("no free stream in time", request=request) from None
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    origin.wake()  # pass on the free stream this waiter was woken for
                raise

    async def _connect(self, origin: _Origin, request: httpx.Request, timeout: float | None) -> None:
        url = request.url
        tls = url.scheme == "https"
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
            self._ssl.set_alpn_protocols(["h2"])
        conn = _Connection(origin, self._max_streams)
        origin.conns.append(conn)  # counted while connecting, so concurrent requests wait for it instead
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().create_connection(
                    lambda: conn, url.host, url.port or (443 if tls else 80),
                    ssl=self._ssl if tls else None, server_hostname=url.host if tls else None,
                )  # fmt: skip
                ssl_object = conn.transport.get_extra_info("ssl_object") if conn.transport else None
                if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
                    raise httpx.ConnectError("the server did not agree to HTTP/2 (ALPN)", request=request)
                await conn.ready
            if not conn.usable:
                raise httpx.ConnectError("connection closed before the server's SETTINGS", request=request)
        except BaseException as exc:
            conn.usable = False
            if conn.transport is not None:
                conn.transport.close()
            origin.drop(conn)
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout("connect timed out", request=request) from None
            if isinstance(exc, OSError):
                raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from None
            raise

    async def aclose(self) -> None:
        for origin in self._origins.values():
            for conn in list(origin.conns):
                conn.usable = False
                if conn.transport is not None:
                    conn.transport.close()
        self._origins.clear()
