"""H2Transport against real HTTP/2 servers on loopback: hypercorn for multiplexing, h2 for misbehaviour."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from h2.settings import SettingCodes
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hyperframe.frame import GoAwayFrame

from local.standins.apns import read_body
from pushengine.providers.h2transport import H2Transport

pytestmark = pytest.mark.integration

TIMEOUT = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 10.0}


def post(url: str, body: bytes = b"{}") -> httpx.Request:
    request = httpx.Request("POST", url, content=body, headers={"apns-topic": "com.example.app"})
    request.extensions["timeout"] = TIMEOUT
    return request


class Counting:
    """An ASGI app that counts client connections (by source port) and the most requests in flight."""

    def __init__(self) -> None:
        self.ports: set[int] = set()
        self.in_flight = self.most_in_flight = self.requests = 0
        self.versions: set[str] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.ports.add(scope["client"][1])
        self.versions.add(scope["http_version"])
        self.requests += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        body = await read_body(receive)
        await asyncio.sleep(0.02)  # long enough for many streams to overlap
        self.in_flight -= 1
        answer = f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-topic", b"ok")]})
        await send({"type": "http.response.body", "body": answer})


@contextlib.asynccontextmanager
async def hypercorn(
    app: Counting, max_streams: int, tls: tuple[str, str] | None = None
) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.h2_max_concurrent_streams = max_streams
    config.accesslog = config.errorlog = None
    if tls is not None:
        config.certfile, config.keyfile = tls
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        stop.set()
        await task


def test_many_streams_share_two_connections_within_the_servers_stream_limit() -> None:
    app = Counting()

    async def scenario() -> list[httpx.Response]:
        async with hypercorn(app, max_streams=50) as base:
            transport = H2Transport(max_connections=2)
            try:
                return await asyncio.gather(
                    *(transport.handle_async_request(post(f"{base}/3/device/{i}")) for i in range(600))
                )
            finally:
                await transport.aclose()

    responses = asyncio.run(scenario())
    assert {r.status_code for r in responses} == {200}
    assert {r.headers["x-topic"] for r in responses} == {"ok"}
    assert {r.extensions["http_version"] for r in responses} == {b"HTTP/2"}
    assert app.requests == 600 and app.versions == {"2"}
    assert len(app.ports) == 2  # counted on the server: no more than two connections, and both used
    assert 50 < app.most_in_flight <= 100  # both connections multiplexed, neither past 50 streams


def test_a_4kb_body_arrives_whole() -> None:
    app = Counting()
    body = bytes(range(256)) * 16

    async def scenario() -> httpx.Response:
        async with hypercorn(app, max_streams=100) as base:
            transport = H2Transport()
            try:
                return await transport.handle_async_request(post(f"{base}/3/device/x", body))
            finally:
                await transport.aclose()

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.content == f"4096 {hashlib.sha256(body).hexdigest()}".encode()


Action = Callable[[h2.connection.H2Connection, int, int], bool]  # (conn, stream id, request #) -> keep open


class RawH2:
    """A bare h2 server whose `action` may answer, hold, GOAWAY or hang up; tiny windows on request."""

    def __init__(self, action: Action, window: int = 65535) -> None:
        self.action, self.window = action, window
        self.connections = 0
        self.bodies: list[bytes] = []
        self.writer: asyncio.StreamWriter | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writer = writer
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        # Sent with the preface (same read on the client): the window applies before its first request.
        conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: self.window})
        writer.write(conn.data_to_send())
        bodies: dict[int, bytes] = {}
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self.bodies.append(bodies.pop(event.stream_id, b""))
                        if not self.action(conn, event.stream_id, len(self.bodies)):
                            writer.write(conn.data_to_send())
                            writer.close()
                            return
                writer.write(conn.data_to_send())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def answer(conn: h2.connection.H2Connection, sid: int, body: bytes = b"ok") -> bool:
    """Answers 200 with `body`; True (keep the connection) so that actions can end with it."""
    conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
    conn.send_data(sid, body, end_stream=True)
    return True


async def raw(server: RawH2, scenario: Callable[[str, H2Transport], Any]) -> Any:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    transport = H2Transport(max_connections=2)
    async with listener:  # leaving it waits for the open connections: close ours first
        try:
            return await scenario(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}", transport)
        finally:
            await transport.aclose()


def test_a_server_that_hangs_up_fails_the_streams_in_flight_and_the_next_request_reconnects() -> None:
    def action(conn: h2.connection.H2Connection, sid: int, n: int) -> bool:
        if n == 1:
            answer(conn, sid)
        return n < 5  # requests 2-4 are held; the 5th makes the server close the socket

    server = RawH2(action)

    async def scenario(base: str, transport: H2Transport) -> tuple[Any, ...]:
        first = await transport.handle_async_request(post(base))
        held = [asyncio.create_task(transport.handle_async_request(post(base))) for _ in range(4)]
        failed = await asyncio.gather(*held, return_exceptions=True)
        server.action = lambda conn, sid, n: answer(conn, sid)
        after = await transport.handle_async_request(post(base))
        return first, failed, after

    first, failed, after = asyncio.run(raw(server, scenario))
    assert first.status_code == 200 and first.content == b"ok"
    assert all(isinstance(e, httpx.RemoteProtocolError) for e in failed), failed
    assert after.status_code == 200
    assert server.connections == 2


def test_goaway_fails_the_streams_in_flight_and_the_next_request_reconnects() -> None:
    held: list[int] = []
    server = RawH2(lambda conn, sid, n: True)

    def action(conn: h2.connection.H2Connection, sid: int, n: int) -> bool:
        held.append(sid)
        if n == 3 and server.writer is not None:  # the first processed, the other two not
            # Written by hand: h2's own GOAWAY would forbid the answer that follows it. The client's h2 stops
            # reading at the GOAWAY, so that answer is lost too: all three fail and are the caller's to retry.
            goaway = GoAwayFrame(0, last_stream_id=held[0])
            server.writer.write(conn.data_to_send() + goaway.serialize())
            answer(conn, held[0])
        return True

    server.action = action

    async def scenario(base: str, transport: H2Transport) -> tuple[list[Any], httpx.Response]:
        tasks = []
        for _ in range(3):
            tasks.append(asyncio.create_task(transport.handle_async_request(post(base))))
            await asyncio.sleep(0.05)  # in order, so the first stream is the one answered
        failed = await asyncio.gather(*tasks, return_exceptions=True)
        server.action = lambda conn, sid, n: answer(conn, sid)
        return failed, await transport.handle_async_request(post(base))

    failed, after = asyncio.run(raw(server, scenario))
    assert all(isinstance(e, httpx.RemoteProtocolError) for e in failed), failed
    assert after.status_code == 200 and server.connections == 2


def test_a_body_larger_than_the_peers_window_waits_for_window_updates() -> None:
    body = b"x" * 4096
    server = RawH2(lambda conn, sid, n: answer(conn, sid), window=1000)

    async def scenario(base: str, transport: H2Transport) -> httpx.Response:
        return await transport.handle_async_request(post(base, body))

    response = asyncio.run(raw(server, scenario))
    assert response.status_code == 200 and server.bodies == [body]


def test_no_answer_in_time_is_a_read_timeout_and_frees_the_stream() -> None:
    server = RawH2(lambda conn, sid, n: n == 1 or answer(conn, sid))

    async def scenario(base: str, transport: H2Transport) -> tuple[Any, httpx.Response]:
        slow = post(base)
        slow.extensions["timeout"] = {**TIMEOUT, "read": 0.2}
        with pytest.raises(httpx.ReadTimeout) as caught:
            await transport.handle_async_request(slow)
        return caught.value, await transport.handle_async_request(post(base))

    error, after = asyncio.run(raw(server, scenario))
    assert error.request is not None and after.status_code == 200


def self_signed(directory: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(certfile), str(keyfile)


def test_https_negotiates_h2_with_alpn(tmp_path: Path) -> None:
    app = Counting()
    certfile, keyfile = self_signed(tmp_path)

    async def scenario() -> list[httpx.Response]:
        async with hypercorn(app, max_streams=100, tls=(certfile, keyfile)) as base:
            transport = H2Transport(ssl_context=ssl.create_default_context(cafile=certfile))
            try:
                return await asyncio.gather(*(transport.handle_async_request(post(base)) for _ in range(20)))
            finally:
                await transport.aclose()

    responses = asyncio.run(scenario())
    assert {r.status_code for r in responses} == {200}
    assert app.versions == {"2"} and len(app.ports) <= 2
