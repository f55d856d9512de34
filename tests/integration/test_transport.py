"""KeepAliveTransport against a real HTTP/1.1 server on loopback: reuse, bounds, framing, closed sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from pushengine.providers.transport import KeepAliveTransport

Reply = Callable[[bytes, int], bytes]  # (request head, index of the request on its connection) -> raw answer


class Server:
    """Counts connections and requests; `reply` writes whatever raw bytes a test wants."""

    def __init__(self, reply: Reply, *, close_after: int | None = None) -> None:
        self.reply, self.close_after = reply, close_after
        self.connections = 0
        self.requests = 0
        self.open = 0
        self.most_open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            served = 0
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                await reader.readexactly(length)
                self.requests += 1
                await asyncio.sleep(0.005)  # in flight long enough for requests to overlap
                writer.write(self.reply(head, served))
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


def ok(head: bytes, index: int) -> bytes:
    return b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: /m/1\r\n\r\nok"


async def _serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield f"http://127.0.0.1:{port}"


async def _post(transport: KeepAliveTransport, url: str, body: bytes = b"hello") -> httpx.Response:
    response = await transport.handle_async_request(httpx.Request("POST", url, content=body))
    await response.aread()
    return response


def _run(server: Server, test: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        async for base in _serving(server):
            await test(base)

    asyncio.run(main())


def test_keep_alive_reuses_connections_and_bounds_them_per_origin() -> None:
    server = Server(ok)

    async def test(base: str) -> None:
        transport = KeepAliveTransport(max_per_origin=5)
        answers = await asyncio.gather(*(_post(transport, f"{base}/push/{i}") for i in range(60)))
        assert [a.status_code for a in answers] == [201] * 60
        assert answers[0].content == b"ok" and answers[0].headers["location"] == "/m/1"
        more = await asyncio.gather(*(_post(transport, f"{base}/push/{i}") for i in range(20)))
        assert {a.status_code for a in more} == {201}
        await transport.aclose()

    _run(server, test)
    assert server.requests == 80
    assert server.most_open <= 5  # requests waited for a free connection instead of opening more
    assert server.connections == 5  # and every later request reused one


def test_chunked_body_and_interim_answer_are_read_whole() -> None:
    def chunked(head: bytes, index: int) -> bytes:
        return (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n")  # fmt: skip

    server = Server(chunked)

    async def test(base: str) -> None:
        transport = KeepAliveTransport()
        for _ in range(3):
            response = await _post(transport, f"{base}/x")
            assert (response.status_code, response.content) == (200, b"hello, world")
        await transport.aclose()

    _run(server, test)
    assert server.connections == 1


def test_server_closing_an_idle_connection_is_retried_once_on_a_new_one() -> None:
    server = Server(ok, close_after=1)  # answers one request per connection, then hangs up

    async def test(base: str) -> None:
        transport = KeepAliveTransport()
        for _ in range(3):
            await asyncio.sleep(0.02)  # the hang-up arrives while the connection is idle, or just after reuse
            assert (await _post(transport, f"{base}/x")).status_code == 201
        await transport.aclose()

    _run(server, test)
    assert server.requests == 3 and server.connections == 3


def test_connection_close_and_unframed_bodies_are_not_reused() -> None:
    def closing(head: bytes, index: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"

    server = Server(closing)

    async def test(base: str) -> None:
        transport = KeepAliveTransport()
        for _ in range(3):
            assert (await _post(transport, f"{base}/x")).content == b"a"
        await transport.aclose()

    _run(server, test)
    assert server.connections == 3


def test_a_reply_cut_short_is_a_transport_error_not_a_retry() -> None:
    def cut(head: bytes, index: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"

    server = Server(cut, close_after=1)

    async def test(base: str) -> None:
        transport = KeepAliveTransport()
        with pytest.raises(httpx.RemoteProtocolError):
            await _post(transport, f"{base}/x")
        await transport.aclose()

    _run(server, test)
    assert server.requests == 1  # the request reached the server: sending it again could duplicate it


def test_refused_connection_and_slow_answer_are_transport_errors() -> None:
    async def slow_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns once the client gives up and closes
        writer.close()

    async def main() -> None:
        transport = KeepAliveTransport()
        with pytest.raises(httpx.ConnectError):
            await _post(transport, "http://127.0.0.1:9/x")  # discard port: nothing listens
        listener = await asyncio.start_server(slow_reply, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            request = httpx.Request("POST", f"http://127.0.0.1:{port}/x", content=b"x",
                                    extensions={"timeout": {"read": 0.1}})  # fmt: skip
            with pytest.raises(httpx.ReadTimeout):
                await transport.handle_async_request(request)
            await transport.aclose()

    asyncio.run(main())


def test_pool_timeout_and_cancelled_waiters_never_leak_a_connection_slot() -> None:
    server = Server(ok)

    async def test(base: str) -> None:
        transport = KeepAliveTransport(max_per_origin=1)
        first = asyncio.create_task(_post(transport, f"{base}/a"))
        await asyncio.sleep(0)  # it takes the only slot
        with pytest.raises(httpx.PoolTimeout):  # the server holds each answer ~5 ms
            await transport.handle_async_request(
                httpx.Request("POST", f"{base}/b", content=b"x", extensions={"timeout": {"pool": 0.001}})
            )
        waiter = asyncio.create_task(_post(transport, f"{base}/c"))
        await asyncio.sleep(0)
        waiter.cancel()  # gives up while queued
        assert (await first).status_code == 201
        with pytest.raises(asyncio.CancelledError):
            await waiter
        answers = await asyncio.gather(*(_post(transport, f"{base}/d{i}") for i in range(5)))
        assert [a.status_code for a in answers] == [201] * 5  # the slot came back each time
        await transport.aclose()

    _run(server, test)
    assert server.most_open == 1 and server.requests == 6
