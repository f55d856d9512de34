"""A lean HTTP/1.1 keep-alive connection pool per origin on asyncio, as an httpx transport.

Kept because it earns its place: in `make bench` (README, "Transports") the engine's whole Web Push send
path takes 14x less CPU per message on it than on stock httpx (`httpx.AsyncHTTPTransport` with a pool of
200 connections; FCM's 15x). httpcore's pool scans every connection for every queued request
(encode/httpcore#1035); here a request takes an idle connection in O(1) or waits on the origin's
semaphore for one, so at most `max_per_origin` connections are ever open to it.

Read timeouts are deadlines on the connection, checked by one timer every SWEEP_SECONDS while requests
are in flight (cheaper than a timer per request): a request times out between `read` and
`read + SWEEP_SECONDS` after it was written.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, NamedTuple

import httpx

MAX_HEAD_BYTES = 64 * 1024
SWEEP_SECONDS = 0.25
_NO_BODY_STATUSES = (204, 304)
_IDLE = float("inf")


class _Connection(asyncio.Protocol):
    """One socket: bytes arrive in `buffer`; readers wait on `_more` until the response is complete."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.answered = False  # any byte since the last request was written
        self.deadline = _IDLE  # loop time by which the answer in flight must be complete
        self.expired = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.answered = True
        self._wake()

    def eof_received(self) -> None:
        self.closed = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def expire(self) -> None:
        """The answer missed its deadline: the reader gets TimeoutError and the socket is closed."""
        self.expired = True
        self.close()
        self._wake()

    async def _more(self) -> None:
        if self.expired:
            raise TimeoutError
        if self.closed:
            raise httpx.RemoteProtocolError("server closed the connection")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            await self._more()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self._more()
        return (await self._take(end + 2))[:-2]

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def response(self, method: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        """(status, reason, headers, body, reusable); skips 1xx interim answers."""
        while True:
            while (end := self.buffer.find(b"\r\n\r\n")) < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise httpx.RemoteProtocolError("response head too large")
                await self._more()
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            del self.buffer[: end + 4]
            version, _, rest = lines[0].partition(b" ")
            code, _, reason = rest.partition(b" ")
            if not version.startswith(b"HTTP/1.") or not code.isdigit():
                raise httpx.RemoteProtocolError(f"bad status line {lines[0][:80]!r}")
            status = int(code)
            if not 100 <= status < 200:
                break
        headers: list[tuple[bytes, bytes]] = []
        length, chunked, reusable = None, False, version == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip(), value.strip()
            headers.append((name, value))
            lower = name.lower()
            if lower == b"content-length" and value.isdigit():
                length = int(value)
            elif lower == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif lower == b"connection":
                reusable = b"close" not in value.lower() and (reusable or b"keep-alive" in value.lower())
        if method == b"HEAD" or status in _NO_BODY_STATUSES:
            body = b""
        elif chunked:
            parts = []
            while size := int((await self._line()).split(b";", 1)[0], 16):
                parts.append(await self._take(size + 2))
            while await self._line():  # trailers, up to the empty line
                pass
            body = b"".join(p[:-2] for p in parts)
        elif length is not None:
            body = await self._take(length)
        else:  # no framing: the body runs until the server closes
            while not self.closed:
                await self._more()
            body, reusable = bytes(self.buffer), False
        return status, reason, headers, body, reusable and not self.closed


class _Origin:
    """Connections to one origin: idle ones, and a count of free slots handed to waiters first-come
    first-served (lighter than asyncio.Semaphore's checks)."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.idle: list[_Connection] = []

    async def acquire(self, timeout: float | None) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        slot = asyncio.get_running_loop().create_future()
        self.waiters.append(slot)
        try:
            async with asyncio.timeout(timeout):
                await slot
        except TimeoutError:
            self._give_up(slot)
            raise httpx.PoolTimeout("no free connection in time") from None
        except BaseException:
            self._give_up(slot)
            raise

    def _give_up(self, slot: asyncio.Future[None]) -> None:
        if slot.done() and not slot.cancelled():
            self.release()  # handed a slot just as we gave up: pass it on
        else:
            slot.cancel()

    def release(self) -> None:
        while self.waiters:
            slot = self.waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.free += 1


class RawResponse(NamedTuple):
    """An answer as bytes: what adapters on the hot path read instead of an httpx.Response."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), decoded as latin-1."""
        wanted = name.encode("latin-1").lower()
        return next((v.decode("latin-1") for k, v in self.headers if k.lower() == wanted), None)


Target = tuple[str, str, int]  # (scheme, host, port): one pool of connections per target


def target_of(url: httpx.URL) -> Target:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def request_head(method: bytes, path: bytes, headers: bytes, length: int) -> bytes:
    """An HTTP/1.1 request head; `headers` is the `Name: value\r\n` block (Host included)."""
    return b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (method, path, headers, length)


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive, at most `max_per_origin` connections per scheme://host:port.

    `exchange()` is the byte-level call the Web Push adapter uses (no Request/Response objects built per
    message); `handle_async_request` is the same exchange behind httpx's transport interface.
    """

    def __init__(self, *, max_per_origin: int = 100, ssl_context: ssl.SSLContext | None = None) -> None:
        self._limit = max_per_origin
        self._ssl = ssl_context
        self._origins: dict[Target, _Origin] = {}
        self._open: set[_Connection] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        headers = b"".join(
            b"%s: %s\r\n" % kv for kv in request.headers.raw if kv[0].lower() != b"content-length"
        )
        body = await request.aread()
        method = request.method.encode()
        try:
            raw = await self.exchange(
                target_of(url), request_head(method, url.raw_path, headers, len(body)), body,
                connect=timeouts.get("connect"), read=timeouts.get("read"), pool=timeouts.get("pool"),
                method=method,
            )  # fmt: skip
        except httpx.TransportError as exc:
            exc.request = request
            raise
        return httpx.Response(raw.status, headers=raw.headers, content=raw.body, request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": raw.reason})  # fmt: skip

    async def exchange(
        self, target: Target, head: bytes, body: bytes, *, connect: float | None = None,
        read: float | None = None, pool: float | None = None, method: bytes = b"POST",
    ) -> RawResponse:  # fmt: skip
        """Send one request (head from `request_head`) on a kept-alive connection to `target`.

        Raises httpx.TransportError subclasses: PoolTimeout, ConnectError/ConnectTimeout, ReadTimeout,
        RemoteProtocolError. A kept-alive socket the server closed before answering is retried once on
        a new connection (the request never reached the server); nothing else is retried here."""
        origin = self._origins.get(target)
        if origin is None:
            origin = self._origins[target] = _Origin(self._limit)
        await origin.acquire(pool)
        try:
            for fresh in (False, True):
                conn = None if fresh else self._idle(origin)
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(target, connect)
                try:
                    assert conn.transport is not None
                    conn.answered = False
                    if read is not None:
                        self._watch(conn, read)
                    conn.transport.write(head + body)
                    status, reason, headers, content, reusable = await conn.response(method)
                    conn.deadline = _IDLE
                except httpx.RemoteProtocolError as exc:
                    untouched = reused and not conn.answered
                    self._discard(conn)
                    if untouched and not fresh:
                        continue
                    raise httpx.RemoteProtocolError(str(exc)) from None
                except TimeoutError:
                    self._discard(conn)
                    raise httpx.ReadTimeout("no answer in time") from None
                except BaseException:  # cancelled mid-exchange: the socket's state is unknown
                    self._discard(conn)
                    raise
                if reusable:
                    origin.idle.append(conn)
                else:
                    self._discard(conn)
                return RawResponse(status, reason, headers, content)
            raise AssertionError("unreachable")
        finally:
            origin.release()

    def _watch(self, conn: _Connection, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        conn.deadline = loop.time() + seconds
        if self._sweep is None or self._sweep_loop is not loop:
            self._sweep, self._sweep_loop = loop.call_later(SWEEP_SECONDS, self._expire_overdue), loop

    def _expire_overdue(self) -> None:
        """Runs every SWEEP_SECONDS while any answer is awaited; stops when none is."""
        assert self._sweep_loop is not None
        now, waiting = self._sweep_loop.time(), False
        for conn in list(self._open):
            if conn.deadline <= now:
                conn.expire()
            elif conn.deadline != _IDLE:
                waiting = True
        self._sweep = self._sweep_loop.call_later(SWEEP_SECONDS, self._expire_overdue) if waiting else None

    def _idle(self, origin: _Origin) -> _Connection | None:
        while origin.idle:
            conn = origin.idle.pop()  # the most recently used: least likely to have been timed out
            if not conn.closed and not conn.buffer and conn.transport and not conn.transport.is_closing():
                return conn
            self._discard(conn)
        return None

    async def _connect(self, target: Target, timeout: float | None) -> _Connection:
        scheme, host, port = target
        tls = scheme == "https"
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Connection,
                    host,
                    port,
                    ssl=self._ssl if tls else None,
                    server_hostname=host if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from None
        self._open.add(conn)
        return conn

    def _discard(self, conn: _Connection) -> None:
        conn.deadline = _IDLE
        conn.close()
        self._open.discard(conn)

    async def aclose(self) -> None:
        for conn in list(self._open):
            self._discard(conn)
        self._origins.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
