"""The embedded AWS: moto's server app behind `AwsFrontDoor`, served on 127.0.0.1 in a thread.

Like moto's ThreadedMotoServer, with two differences: every request passes the front door (fences,
limits, faults: see strict.py), and connections are kept alive (HTTP/1.1), so a poller's requests
reuse one connection and one server thread instead of a new one each (werkzeug alone closes every
connection after its response: a GetItem round trip then cost 3.1 ms of CPU, measured).
With `upstream` (an existing AWS-compatible endpoint), the door fronts a plain forwarding proxy to it
instead of moto, so strict mode also works in front of someone else's moto server or LocalStack.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import moto.dynamodb.responses as moto_dynamodb
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from samlocal.strict import BODY_READ, AwsFrontDoor, Faults


class _KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection (and its thread) ends after a minute; long polls are 20 s
    # headers and body go out in two writes; on a kept connection Nagle would hold the second until the
    # client's delayed ACK of the first (~40 ms a request), where a closed connection flushed at once
    disable_nagle_algorithm = True

    def send_header(self, keyword: str, value: str) -> None:
        # werkzeug closes every connection after its response ("Connection: close"), because http.server
        # cannot skip a request body the app left unread. When the whole body was read (the door reads
        # every DynamoDB, SQS and Scheduler body) or there was none, the connection is kept: a poller's
        # or writer's next request reuses it instead of a new connection and a new server thread.
        if keyword.lower() == "connection" and value.lower() == "close" and self._body_consumed():
            return
        super().send_header(keyword, value)

    def _body_consumed(self) -> bool:
        environ = getattr(self, "environ", None) or {}
        if environ.get(BODY_READ):
            return True
        return not environ.get("wsgi.input_terminated") and not int(environ.get("CONTENT_LENGTH") or 0)

    def log_error(self, format: str, *args: Any) -> None:
        if not format.startswith("Request timed out"):  # the normal end of an idle kept connection
            super().log_error(format, *args)

    def setup(self) -> None:
        super().setup()
        self.rfile = _KeptInput(self.rfile, self._body_consumed)  # type: ignore[assignment]
        getattr(self.server, "open_connections", set()).add(self.connection)

    def finish(self) -> None:
        getattr(self.server, "open_connections", set()).discard(self.connection)
        super().finish()


class _KeptInput:
    """The connection's input, which reads nothing more once the request's body was read.

    After each response werkzeug drains what is left on the socket ("read everything": it expects to
    close). On a kept connection what is left is the client's next request, so the drain must get none."""

    def __init__(self, raw: Any, body_consumed: Callable[[], bool]) -> None:
        self._raw, self._body_consumed = raw, body_consumed

    def read(self, size: int = -1) -> bytes:
        return b"" if self._body_consumed() else bytes(self._raw.read(size))

    def __getattr__(self, name: str) -> Any:  # readline (request line, headers), close, ...
        return getattr(self._raw, name)


# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the proxy sets itself.
_NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


class ForwardingApp:
    """WSGI app that sends each request on to `upstream` as it came and answers with its reply."""

    def __init__(self, upstream: str, timeout: float = 60.0) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.secure = parts.scheme == "https"
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout  # above SQS's longest long poll (20 s)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        path = self.prefix + (environ.get("RAW_URI") or environ.get("PATH_INFO") or "/")
        if not environ.get("RAW_URI") and environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {
            key[5:].replace("_", "-"): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _NOT_FORWARDED
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["Content-Length"] = str(len(body))
        kind = http.client.HTTPSConnection if self.secure else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
            reply = connection.getresponse()
            data = reply.read()
            kept = [
                (k, v) for k, v in reply.getheaders() if k.lower() not in _NOT_FORWARDED | {"content-length"}
            ]
            start_response(f"{reply.status} {reply.reason}", [*kept, ("Content-Length", str(len(data)))])
            return [data]
        finally:
            connection.close()


class EmbeddedAws:
    def __init__(
        self,
        port: int = 0,
        *,
        limits: bool = False,
        faults: Faults | None = None,
        upstream: str | None = None,
    ) -> None:
        self.port = port
        inner = ForwardingApp(upstream) if upstream else DomainDispatcherApplication(create_backend_app)
        self.front_door = AwsFrontDoor(inner, limits=limits, faults=faults)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        # AWS takes 100 items per TransactGetItems (moto still has the old 25); 100+ is refused by the door.
        moto_dynamodb.TRANSACTION_MAX_ITEMS = max(moto_dynamodb.TRANSACTION_MAX_ITEMS, 100)
        self._server = make_server(
            "127.0.0.1", self.port, self.front_door, threaded=True, request_handler=_KeepAliveHandler
        )
        # A kept-alive connection's thread must not hold the process open (ThreadingMixIn's switch).
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self._server.open_connections = set()  # type: ignore[attr-defined]  # closed on stop
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            for connection in list(getattr(self._server, "open_connections", ())):
                with contextlib.suppress(OSError):  # wakes each kept-alive connection's thread, which ends
                    connection.shutdown(socket.SHUT_RDWR)
            self._server = None
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
