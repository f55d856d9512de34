"""The engine's own send path on stock transports, beside the hand-rolled ones it ships with.

`providers/transport.py` (HTTP/1.1 keep-alive pool: Web Push, FCM) and `providers/h2transport.py`
(HTTP/2: APNs) are kept only where they beat what a Python user would plug in instead, by a clear margin
in the same run (KEEP_MARGIN). Each stock contender runs the same `send_batch`, the same provider
adapter and the same payloads; only what carries the bytes changes:

- httpx HTTP/1.1: `httpx.AsyncHTTPTransport` with a pool sized like the hand-rolled one (one connection
  per send in flight); the transport AsyncClient sends through, called directly as the providers call
  theirs (AsyncClient's own cookie/auth/redirect layer would only add to the stock side's cost).
- httpx HTTP/2: the same with `http2=True` (the `h2` package), prior knowledge over http://, two
  connections as the hand-rolled one opens.
- aioapns: its connection pool (its own h2 protocol and JWT) under the APNs adapter's requests.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.setup import Fixture
from pushengine.providers.transport import RawResponse, Target

KEEP_MARGIN = 1.3  # a hand-rolled transport stays only if it is at least this much better than stock
MAX_IN_FLIGHT = 200  # Settings.send_concurrency: the providers' pool size (connections per push service)
H2_CONNECTIONS = 2  # what ApnsProvider gives its H2Transport


def httpx_http1() -> httpx.AsyncHTTPTransport:
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    return httpx.AsyncHTTPTransport(limits=limits)


def httpx_http2() -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=H2_CONNECTIONS, max_keepalive_connections=H2_CONNECTIONS)
    return ReadBody(httpx.AsyncHTTPTransport(http1=False, http2=True, limits=limits))


class ReadBody(httpx.AsyncBaseTransport):
    """Answers read whole, as AsyncClient.send does: ApnsProvider reads the body of errors only (its own
    transport hands it over read), and a stock HTTP/2 stream left unread is never released."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        await response.aread()
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class ExchangeOver:
    """`KeepAliveTransport.exchange` (the byte-level call WebPushProvider makes) carried by an httpx transport.

    Splitting the request head back into a method, path and headers costs a few µs per message, against
    the hundreds a transport costs; it is charged to the stock side."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def exchange(
        self, target: Target, head: bytes, body: bytes, *, connect: float | None = None,
        read: float | None = None, pool: float | None = None, method: bytes = b"POST",
    ) -> RawResponse:  # fmt: skip
        first, _, rest = head.partition(b"\r\n")
        verb, path, _ = first.split(b" ", 2)
        headers = [
            (name, value)
            for name, _, value in (line.partition(b": ") for line in rest.split(b"\r\n") if line)
            if name.lower() != b"content-length"
        ]
        scheme, host, port = target
        request = httpx.Request(
            verb.decode(), httpx.URL(scheme=scheme, host=host, port=port, raw_path=path), headers=headers, content=body,
            extensions={"timeout": {"connect": connect, "read": read, "write": read, "pool": pool}},
        )  # fmt: skip
        response = await self._transport.handle_async_request(request)
        content = await response.aread()
        reason = response.extensions.get("reason_phrase", b"")
        return RawResponse(response.status_code, reason, list(response.headers.raw), content)

    async def aclose(self) -> None:
        await self._transport.aclose()


def aioapns_client(fixture: Fixture) -> Any:
    """aioapns's client with token auth, its TLS-only connection redirected to the stand-in's h2c port
    (aioapns has no endpoint option: its protocol's host and port are swapped and TLS dropped)."""
    from urllib.parse import urlsplit

    from aioapns import APNs
    from aioapns.connection import APNsProductionClientProtocol

    from bench.setup import BUNDLE_ID

    where = urlsplit(fixture.standin.base_url)

    class StandInProtocol(APNsProductionClientProtocol):
        APNS_SERVER = where.hostname or "127.0.0.1"
        APNS_PORT = where.port or 80

        def on_data_received(self, data: bytes, stream_id: int) -> None:
            # the stand-in (hypercorn) ends a 200 with an empty DATA frame where Apple ends on HEADERS;
            # aioapns would json-parse b"" and drop the connection
            if data:
                super().on_data_received(data, stream_id)

    client = APNs(key=fixture.secret["private_key"], key_id=fixture.secret["key_id"],
                  team_id=fixture.secret["team_id"], topic=BUNDLE_ID, use_sandbox=False)  # fmt: skip
    client.pool.protocol_class = StandInProtocol
    client.pool.ssl_context = None
    return client


class AioapnsTransport(httpx.AsyncBaseTransport):
    """The APNs adapter's requests sent by aioapns: each becomes a NotificationRequest on aioapns's pool,
    which signs its own provider JWT (the adapter's `authorization` header is not used)."""

    def __init__(self, fixture: Fixture) -> None:
        self._fixture = fixture
        self._client: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from aioapns import NotificationRequest, PushType

        if self._client is None:  # made on the running loop: aioapns's pool keeps the loop it was made on
            self._client = aioapns_client(self._fixture)
        h = request.headers
        expiration = int(h.get("apns-expiration", "0"))
        note = NotificationRequest(
            device_token=request.url.path.rsplit("/", 1)[1], message=json.loads(await request.aread()),
            time_to_live=max(0, expiration - int(time.time())) if expiration else None,
            priority=int(h["apns-priority"]), collapse_key=h.get("apns-collapse-id"),
            push_type=PushType(h["apns-push-type"]), apns_topic=h.get("apns-topic"),
        )  # fmt: skip
        result = await self._client.send_notification(note)
        status = int(result.status)
        content = b"" if status == 200 else json.dumps({"reason": result.description or ""}).encode()
        return httpx.Response(status, content=content, request=request)

    async def aclose(self) -> None:
        if self._client is not None:
            self._client.pool.close()


# channel -> the stock contenders: (row name, a fresh transport for one phase, drop-in). A drop-in goes where
# the provider keeps its transport with no other change, so it is what the provider would switch to. aioapns is
# not one: it has no endpoint option (APNS_ENDPOINT, the stand-ins: its protocol class must be subclassed),
# no per-request timeout and no response headers (Retry-After); its row is shown for reference.
STOCK: dict[str, list[tuple[str, Callable[[Fixture], Any], bool]]] = {
    "web": [("engine web on httpx HTTP/1.1", lambda f: ExchangeOver(httpx_http1()), True)],
    "android": [("engine android on httpx HTTP/1.1", lambda f: httpx_http1(), True)],
    "ios": [
        ("engine ios on httpx HTTP/2 (h2)", lambda f: httpx_http2(), True),
        ("engine ios on aioapns", AioapnsTransport, False),
    ],
}
HAND_ROLLED = {"web": "KeepAliveTransport", "android": "KeepAliveTransport", "ios": "H2Transport"}


def _paired(mine: Any, theirs: Any, key: str, otherwise: float, *, lower_is_better: bool = False) -> float:
    """The median over rounds of how much better `mine` did than `theirs` on one figure (> 1: mine), each
    round's pair run back to back so a slow spell of the shared machine hits both; `otherwise` when the
    rounds were not kept."""
    pairs = [
        (b / a if lower_is_better else a / b)
        for a, b in zip(mine.extra.get(key, ()), theirs.extra.get(key, ()), strict=False)
        if a and b
    ]
    return statistics.median(pairs) if pairs else otherwise


def verdicts(results: dict[str, list[Any]]) -> dict[str, Any]:
    """Per channel, the hand-rolled transport against each stock one in the same run, each ratio the median
    of the rounds' ratios: rate_ratio = hand-rolled msgs/s ÷ stock; cpu_ratio = stock CPU µs per message ÷
    hand-rolled (both > 1 when the hand-rolled transport is better). Its margin over a stock transport is the
    larger of the two (a bottleneck outside the process, a stand-in or a starved machine, caps the rates
    alike, so CPU then tells them apart); `keep` when its margin over the closest drop-in stock transport is
    at least KEEP_MARGIN."""
    report: dict[str, Any] = {}
    for channel, stock in STOCK.items():
        measured = {m.name: m for m in results.get(channel, [])}
        engine = measured.get(f"engine {channel}")
        if engine is None or not engine.notifications:
            continue
        against: dict[str, dict[str, Any]] = {}
        for name, _, drop_in in stock:
            other = measured.get(name)
            if other is None or not other.notifications:
                against[name] = {"drop_in": drop_in, "note": other.note if other else "not run"}
                continue
            rate = _paired(engine, other, "rounds", engine.rate / other.rate)
            cpu = _paired(engine, other, "rounds_cpu_us", other.cpu_us_per_message / engine.cpu_us_per_message,
                          lower_is_better=True)  # fmt: skip
            against[name] = {"drop_in": drop_in, "rate_ratio": round(rate, 2), "cpu_ratio": round(cpu, 2),
                             "stock_rate": round(other.rate, 1),
                             "stock_cpu_us": round(other.cpu_us_per_message, 1)}  # fmt: skip
        margins = {
            name: max(r["rate_ratio"], r["cpu_ratio"])
            for name, r in against.items()
            if "rate_ratio" in r and r["drop_in"]
        }
        closest = min(margins, key=margins.__getitem__) if margins else None
        report[channel] = {
            "hand_rolled": HAND_ROLLED[channel], "rate": round(engine.rate, 1),
            "cpu_us": round(engine.cpu_us_per_message, 1), "against": against,
            "closest_stock": closest, "margin": margins.get(closest) if closest else None,
            "keep": closest is not None and margins[closest] >= KEEP_MARGIN,
        }  # fmt: skip
    return report
