"""Serve the template's HttpApi routes on 127.0.0.1 with API Gateway payload format 2.0 events."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from samlocal.functions import LocalFunction
from samlocal.template import ACCOUNT_ID

log = logging.getLogger(__name__)

_TEXT_TYPES = re.compile(r"^text/|json|xml|javascript|x-www-form-urlencoded", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # as declared, e.g. /v1/devices/{device_id}; "" for the $default route
    function: LocalFunction
    api_id: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}" if self.path else "$default"

    @property
    def pattern(self) -> re.Pattern[str]:
        if not self.path:
            return re.compile(r"/.*")
        parts = []
        for segment in self.path.strip("/").split("/"):
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            param = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy.group(1)}>.+)")
            elif param:
                parts.append(f"(?P<{param.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        return re.compile("/" + "/".join(parts))

    def precedence(self) -> tuple[int, int, int, int]:
        """Most specific first, as API Gateway picks: static, parameters, greedy, then $default."""
        segments = self.path.strip("/").split("/") if self.path else []
        greedy = sum(s.endswith("+}") for s in segments)
        params = sum(s.startswith("{") for s in segments) - greedy
        return (not self.path, greedy, params, self.method == "ANY")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


@dataclass(frozen=True)
class Cors:
    """An HttpApi's CorsConfiguration, applied as API Gateway does: it answers the browser's preflight
    (OPTIONS with Access-Control-Request-Method) itself, without calling a function, and sets the CORS
    headers on every answer to an allowed origin, replacing any the function set."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_config(cls, config: Any) -> Cors | None:
        if not isinstance(config, dict):  # absent, or `true` (a REST API's shorthand): nothing to apply
            return None

        def items(name: str) -> tuple[str, ...]:
            value = config.get(name) or ()
            return tuple(
                str(v).strip() for v in ([value] if isinstance(value, str) else value) if str(v).strip()
            )

        max_age = config.get("MaxAge")
        return cls(
            items("AllowOrigins"), tuple(m.upper() for m in items("AllowMethods")),
            tuple(h.lower() for h in items("AllowHeaders")), tuple(h.lower() for h in items("ExposeHeaders")),
            None if max_age is None else int(max_age), bool(config.get("AllowCredentials")),
        )  # fmt: skip

    def allowed_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.allow_origins and not self.allow_credentials:
            return "*"
        return origin if origin in self.allow_origins else None

    def headers(self, origin: str | None, *, preflight: bool) -> list[tuple[str, str]]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return []
        out = [("access-control-allow-origin", allowed)]
        if allowed != "*":
            out.append(("vary", "origin"))
        if self.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if preflight:
            if self.allow_methods:
                out.append(("access-control-allow-methods", ",".join(self.allow_methods)))
            if self.allow_headers:
                out.append(("access-control-allow-headers", ",".join(self.allow_headers)))
            if self.max_age is not None:
                out.append(("access-control-max-age", str(self.max_age)))
        elif self.expose_headers:
            out.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        return out


def routes_of(functions: list[LocalFunction], api_id_of: dict[str, str]) -> list[Route]:
    """Every HttpApi event of every function; api_id_of maps an ApiId value to an id."""
    routes = []
    for function in functions:
        for event in function.spec.events.values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            method = str(props.get("Method", "ANY")).upper()
            path = str(props.get("Path", ""))
            api_ref = str(props.get("ApiId") or "")
            routes.append(Route(method, path, function, api_id_of.get(api_ref, "local")))
    return sorted(routes, key=Route.precedence)


def build_event(
    route: Route, params: dict[str, str], request: BaseHTTPRequestHandler, body: bytes
) -> dict[str, Any]:
    raw_path, _, raw_query = request.path.partition("?")
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookie_header = headers.pop("cookie", "")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = time.time()
    host = headers.get("host", "127.0.0.1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": route.api_id,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": request.command,
                "path": unquote(raw_path),
                "protocol": request.request_version,
                "sourceIp": request.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if body:
        content_type = headers.get("content-type", "")
        try:
            text = body.decode("utf-8")
            is_text = not content_type or bool(_TEXT_TYPES.search(content_type))
        except UnicodeDecodeError:
            is_text = False
        if is_text:
            event["body"] = text
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_response(result: Any) -> Response:
    """Turn a handler result into the HTTP response, with API Gateway's rules for a bare result."""
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return Response(200, [("content-type", "application/json")], text.encode())
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    raw = result.get("body")
    body: bytes
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    return Response(int(result["statusCode"]), headers, body)


def _json_response(status: int, message: str) -> Response:
    return Response(status, [("content-type", "application/json")], json.dumps({"message": message}).encode())


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: with Nagle on, each answer waited ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: ApiServer

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.partition("?")[0]
        response = _json_response(404, "Not Found")
        origin = self.headers.get("origin")
        cors = self.server.cors_for(path)
        preflight = self.command == "OPTIONS" and "access-control-request-method" in self.headers
        if cors is not None and preflight:
            self._send(Response(204, cors.headers(origin, preflight=True), b""))
            return
        for route in self.server.routes:
            params = route.match(self.command, path)
            if params is None:
                continue
            event = build_event(route, params, self, body)
            try:
                response = to_response(route.function.invoke(event))
            except Exception:
                log.exception("%s %s: handler %s failed", self.command, path, route.function.name)
                response = _json_response(500, "Internal Server Error")
            break
        if cors is not None:
            kept = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
            response.headers = kept + cors.headers(origin, preflight=False)
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: list[Route], port: int = 0, cors: dict[str, Cors] | None = None) -> None:
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.routes = routes
        self.cors = cors or {}  # api id -> its CorsConfiguration
        self._thread = threading.Thread(target=self.serve_forever, name="local-api", daemon=True)

    def cors_for(self, path: str) -> Cors | None:
        """The CORS rules of the API that serves this path (any method), if it has any."""
        for route in self.routes:
            if route.pattern.fullmatch(path):
                return self.cors.get(route.api_id)
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
