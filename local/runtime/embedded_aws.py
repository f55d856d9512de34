"""The embedded AWS: moto's server app behind `AwsFrontDoor`, served on 127.0.0.1 in a thread.

Like moto's ThreadedMotoServer, with two differences: every request passes the front door (fences,
limits, faults: see strict.py), and connections are kept alive (HTTP/1.1), so a poller's requests
reuse one connection and one server thread instead of a new one each.
"""

from __future__ import annotations

import threading

import moto.dynamodb.responses as moto_dynamodb
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.runtime.strict import AwsFrontDoor, Faults


class _KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"


class EmbeddedAws:
    def __init__(self, port: int = 0, *, limits: bool = False, faults: Faults | None = None) -> None:
        self.port = port
        self.front_door = AwsFrontDoor(
            DomainDispatcherApplication(create_backend_app), limits=limits, faults=faults
        )
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
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
