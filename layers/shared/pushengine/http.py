"""The HTTP edge every API function shares: routes that say who may call them, the edge checks that run
before Powertools reads a body, error mapping, and the OpenAPI document.

Order of a request: route -> key or console ID token (401) -> kind and app (403) -> the route's guard (a
client key's device secret and user token, 403; its event rate, 429: `pushengine.device_trust`) -> body
size (413) -> media type (415) -> UTF-8, JSON, depth, an object (400) -> Powertools' validation of path,
query and body (400) -> handler -> the audit log (every request that may change something, by a caller
that is not a client key: `audit.py`). A guard that needs the body (an event names its device in it)
reads its envelope first.
Powertools runs its request validation before any middleware (`app.use` included), so the edge runs in
front of `resolve`, on the API Gateway event's own `routeKey` and `pathParameters`: the inputs an HTTP
API Lambda authorizer would get. An authorizer is not used because it can only answer API Gateway's bare
401/403 (an unknown key would read 403, without the error body) and adds an invocation per request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from pushengine import audit, webpush_keys
from pushengine.auth import Kind, Principal, authenticate, bearer, require
from pushengine.bootstrap import adapters
from pushengine.console_users import IdTokenVerifier, looks_like_token
from pushengine.dal.apps import AppsRepository
from pushengine.dal.audit import AuditRepository
from pushengine.dal.aws import Contended
from pushengine.errors import (
    BodyTooLarge,
    DomainError,
    InvalidInput,
    NotFound,
    TooManyRequests,
    UnsupportedMediaType,
)
from pushengine.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from pushengine.models import SCHEDULE_TYPES, ErrorOut
from pushengine.observability import logger, metrics, tracer

F = TypeVar("F", bound=Callable[..., Any])
_FIELD_PREFIX = re.compile(r"^(?:Value error, )?([A-Za-z_][\w.\[\]]*): (.*)$", re.S)
_PARAM = re.compile(r"<(\w+)>")
_caller: ContextVar[Principal | None] = ContextVar("caller", default=None)

# What each error status means on this API (the body is always ErrorOut).
ERROR_STATUSES = {
    400: "invalid request: `errors` names each field and the reason",
    401: "missing or unknown key, or a console ID token that is invalid or expired",
    403: "this key or console role may not call this route (wrong kind of key, a role without the right, "
    "or another app's), or a client key's X-Device-Secret or X-User-Token is missing or wrong; `message` "
    "says which",
    404: "not found",
    409: "conflict with the current state; `message` says which",
    413: f"request body over {MAX_BODY_BYTES} bytes",
    415: "request body is not application/json",
    422: "this Idempotency-Key was used with another body in the last 24 hours",
    429: "this device's client events are over the app's `client_event_rate`: retry after `Retry-After` seconds",
    503: "the store is busy (contended or throttled): nothing was changed; retry after `Retry-After` seconds",
}
RETRY_AFTER_SECONDS = 1
_SUCCESS = {200: "ok", 201: "created", 202: "accepted", 204: "done, no content"}


# (principal, API Gateway event, the body as a JSON object, parsed on first call): raises the refusal
Guard = Callable[[Principal, Mapping[str, Any], Callable[[], dict[str, Any]]], None]


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call a route, declared once beside it and checked before anything is parsed."""

    kinds: tuple[Kind, ...]  # () is a public route
    app_param: str | None = None  # a path parameter naming the app the key must belong to
    body: bool = False  # the route reads a JSON body
    operator: bool = False  # credentials, keys, settings, the audit log: not for the marketer role
    audited: bool = False  # what it does is recorded in the audit log
    guard: Guard | None = None  # what a route checks next, before the body is validated (device_trust)


PUBLIC = Access(())
SECURITY: dict[str, SecurityScheme] = {"bearer": HTTPBearer()}  # the scheme every keyed route names


def route_key(method: str, path: str) -> str:
    """API Gateway's route key for a Powertools rule: PUT /v1/devices/<device_id> -> PUT /v1/devices/{device_id}."""
    return method.upper() + " " + _PARAM.sub(r"{\1}", path)


class ApiRouter(APIGatewayHttpRouter):
    """A Powertools router whose routes declare their keys and answers; `access` maps route keys to Access."""

    def __init__(self) -> None:
        super().__init__()
        self.access: dict[str, Access] = {}

    def api(
        self,
        method: str,
        path: str,
        *,
        keys: Iterable[Kind],
        summary: str,
        status: int | tuple[int, ...] = 200,
        answers: Iterable[int] = (),
        app_param: str | None = None,
        operator: bool = False,
        audited: bool | None = None,
        guard: Guard | None = None,
    ) -> Callable[[F], F]:
        """Register a route: `keys` may call it (`app_param` must name the key's own app; `operator`: not
        the marketer role), it answers `status` on success and, beside the errors every route of its
        shape gives, `answers` (404, 409). A route that may change something is `audited` unless it says
        otherwise (a read over POST, the events' data plane)."""

        def register(func: F) -> F:
            params = inspect.signature(func).parameters
            key = route_key(method, path)
            recorded = audit.changes(key) if audited is None else audited
            access = Access(tuple(keys), app_param, "body" in params, operator, recorded, guard)
            self.access[key] = access
            errors = set(answers) | ({400} if params else set()) | {503}
            errors |= {401, 403} if access.kinds else set()
            errors |= {413, 415} if access.body else set()
            return self.route(
                path,
                method.upper(),
                summary=summary,
                responses=documented_responses((status,) if isinstance(status, int) else status, errors),
                security=[{"bearer": []}] if access.kinds else None,
            )(func)

        return register


def documented_responses(successes: Iterable[int], errors: Iterable[int]) -> dict[int, Any]:
    responses: dict[int, Any] = {}
    for status in successes:  # a success without "content" is documented with the handler's return type
        responses[status] = {"description": _SUCCESS[status]} | ({"content": {}} if status == 204 else {})
    for status in sorted(errors):
        responses[status] = {
            "description": ERROR_STATUSES[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorOut}},
        }
    return responses


def caller() -> Principal:
    """Who is calling the route being served (the edge authorized them before the route ran)."""
    principal = _caller.get()
    if principal is None:  # only reachable by a route invoked without the edge: never let it through
        raise NotFound("no such route")
    return principal


# ---------- the edge: before Powertools ----------
class Edge:
    """Admits a request (authorization, then the body's envelope) or raises the DomainError to answer."""

    def __init__(
        self,
        access: Mapping[str, Access],
        apps: AppsRepository | None = None,
        admin_key_hash: str | None = None,
        verifier: IdTokenVerifier | None = None,
        audit_log: AuditRepository | None = None,
    ) -> None:
        self.access = dict(access)
        self._apps = apps
        self._admin_key_hash = admin_key_hash
        self._verifier = verifier
        self._audit_log = audit_log

    # what is not given is the function's own (pushengine.bootstrap)
    @property
    def apps(self) -> AppsRepository:
        return self._apps if self._apps is not None else adapters().apps

    @property
    def verifier(self) -> IdTokenVerifier:
        return self._verifier if self._verifier is not None else adapters().console_verifier

    @property
    def audit_log(self) -> AuditRepository | None:
        return self._audit_log if self._audit_log is not None else adapters().audit

    def _access(self, event: Mapping[str, Any]) -> Access:
        access = self.access.get(str(event.get("routeKey", "")))
        if access is None:  # a route the code does not declare: fail closed
            raise NotFound("no such route")
        return access

    def identify(self, event: Mapping[str, Any]) -> Principal | None:
        """Who is calling a keyed route (401 when nobody valid); None on a public route."""
        if not self._access(event).kinds:
            return None
        presented = bearer(event.get("headers"))
        if presented and looks_like_token(presented):
            principal = self.verifier.principal(presented)
        else:
            admin = adapters().settings.admin_key_hash if self._admin_key_hash is None else self._admin_key_hash
            principal = authenticate(presented, admin_key_hash=admin, load_app=self.apps.get)
        logger.append_keys(app_id=principal.app_id, key_kind=principal.kind, console_user=principal.user)
        return principal

    def authorize(self, event: Mapping[str, Any], principal: Principal | None) -> None:
        """May this caller call this route (403), and is the body a JSON object (413, 415, 400)."""
        access = self._access(event)
        if access.kinds:
            assert principal is not None  # identify() answered for a keyed route
            app_id = None
            if access.app_param:  # a missing parameter matches no key's app
                app_id = str((event.get("pathParameters") or {}).get(access.app_param, ""))
            require(principal, *access.kinds, app_id=app_id, operator=access.operator)
        body = functools.cache(lambda: json_object(event))
        if access.guard is not None and principal is not None:
            access.guard(principal, event, body)
        if access.body:
            body()

    def admit(self, event: Mapping[str, Any]) -> Principal | None:
        principal = self.identify(event)
        self.authorize(event, principal)
        return principal

    def record(self, event: Mapping[str, Any], principal: Principal | None, answer: Mapping[str, Any]) -> None:
        """Add the request to the audit log when it may have changed something and a key other than a
        client key (or a console user) made it; answered refusals (403) are recorded too."""
        access = self.access.get(str(event.get("routeKey", "")))
        log = self.audit_log
        if access is None or not access.audited or principal is None or principal.kind == "client" or log is None:
            return
        at = datetime.now(UTC)
        status = int(answer.get("statusCode") or 200)
        body = answer.get("body") if isinstance(answer.get("body"), str) else None
        item = audit.entry(principal, str(event["routeKey"]), event.get("pathParameters") or {}, status, body, at)
        try:
            log.put(principal.app_id, item, at)
        except Exception:  # the change is made: its record goes to the log rather than turn it into a 5xx
            logger.exception("audit entry not stored", extra={"audit": item})


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("not valid base64", field="body") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]
    return deepest


def json_object(event: Mapping[str, Any]) -> dict[str, Any]:
    """The body as a JSON object, or the 4xx that says why it is not one (never a parser's exception)."""
    raw = _raw_body(event)
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body is {len(raw)} bytes; at most {MAX_BODY_BYTES}", field="body")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    media = headers.get("content-type", "").split(";")[0].strip()
    if media not in ("", content_types.APPLICATION_JSON):
        raise UnsupportedMediaType(f"send application/json, not {media[:64]}", field="content-type")
    if not raw.strip():
        raise InvalidInput("required: a JSON object", field="body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("not UTF-8 text", field="body") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from None
    except RecursionError:  # the C parser recurses once per level; far deeper than MAX_JSON_DEPTH anyway
        raise InvalidInput(f"nested deeper than {MAX_JSON_DEPTH} levels", field="body") from None
    except ValueError as exc:  # NaN/Infinity, or an integer past Python's digit limit
        raise InvalidInput(f"not valid JSON: {exc}", field="body") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise InvalidInput(f"nested deeper than {MAX_JSON_DEPTH} levels", field="body")
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object", field="body")
    return value


def _retry_after(exc: DomainError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}


def _proxy_error(exc: DomainError) -> dict[str, Any]:
    """An API Gateway (payload 2.0) response for an error the edge answers itself."""
    errors = [{"field": exc.field, "reason": exc.reason}] if exc.field else []
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **_retry_after(exc)},
        "body": json.dumps({"message": exc.reason, "errors": errors}),
        "isBase64Encoded": False,
    }


# ---------- Powertools: validation errors and domain errors as HTTP ----------
def _field_and_reason(error: dict[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in error.get("loc", ()) if not str(part).startswith("function-after")]
    reason = str(error.get("msg", "invalid"))
    match = _FIELD_PREFIX.match(reason)
    if match and error.get("type") == "value_error":  # model-level checks name their field in the message
        named, reason = match.group(1), match.group(2)
        inside = bool(loc) and (named == loc[-1] or named.startswith((f"{loc[-1]}.", f"{loc[-1]}[")))
        loc = [*loc[:-1], named] if inside else [*loc, named]  # audience + audience.all[1].op: said once
    elif reason.startswith("Value error, "):
        reason = reason.removeprefix("Value error, ")
    # Literal/union branches add type names to the location; they are noise to a caller.
    loc = [
        p for p in loc if not p[:1].isupper() and p not in {"str", "int", "float", "bool", "dict[str,any]"}
    ]
    loc = [p for i, p in enumerate(loc) if not (i and loc[i - 1] == "schedule" and p in SCHEDULE_TYPES)]
    return {"field": ".".join(loc), "reason": reason}


def field_errors(exc: ValidationError, *prefix: str) -> list[dict[str, str]]:
    """A pydantic error as the API's [{field, reason}], located under `prefix` (e.g. "body", "events[3]")."""
    return [_field_and_reason({**e, "loc": (*prefix, *e["loc"])}) for e in exc.errors()]


def error_response(
    status: int, message: str, errors: Iterable[dict[str, str]] = (), headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, "errors": list(errors)},
        headers=headers,
    )


def make_resolver(*routers: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        # Never echo the input back: it may hold keys or tokens.
        return error_response(400, "invalid request", [_field_and_reason(e) for e in exc.errors()])

    @app.exception_handler(ValidationError)
    def _invalid_body(exc: ValidationError) -> Response:  # bodies validated after routing (per provider)
        errors = [_field_and_reason({**e, "loc": ("body", *e["loc"])}) for e in exc.errors()]
        return error_response(400, "invalid request", errors)

    @app.exception_handler(Contended)
    def _busy(exc: Contended) -> Response:  # writes kept meeting conflicts or throttling: try again shortly
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return error_response(503, "busy, please retry", headers=headers)

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response:
        errors = [{"field": exc.field, "reason": exc.reason}] if exc.field else []
        return error_response(exc.status, exc.reason, errors, headers=_retry_after(exc) or None)

    return app


def api_handler(
    *routers: ApiRouter, public: Iterable[str] = ()
) -> tuple[APIGatewayHttpResolver, Callable[..., dict]]:
    """The resolver and the Lambda entry point of an API function: the edge, then Powertools.
    `public`: route keys of routes added to the resolver directly that need no key (the API docs)."""
    app = make_resolver(*routers)
    edge = Edge({k: v for r in routers for k, v in r.access.items()} | dict.fromkeys(public, PUBLIC))

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict, context: LambdaContext) -> dict:
        principal = None
        try:
            principal = edge.identify(event)
            edge.authorize(event, principal)
        except DomainError as exc:
            answer = _proxy_error(exc)
        else:
            token = _caller.set(principal)
            try:
                with webpush_keys.allowing(adapters().webpush_hosts):  # what a subscription is held to
                    answer = app.resolve(event, context)
            finally:
                _caller.reset(token)
        edge.record(event, principal, answer)
        return answer

    return app, lambda_handler


def openapi_document(app: APIGatewayHttpResolver, *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI document with only the answers the API gives: Powertools documents a 422 on every
    validated route, but this API answers 400 (ErrorOut) for every invalid request."""
    doc = json.loads(app.get_openapi_json_schema(title=title, version=version, security_schemes=SECURITY))
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.get("422", {}).get("description") != ERROR_STATUSES[422]:
                responses.pop("422", None)  # Powertools' own, never answered; an idempotent route's stays
            for response in responses.values():
                if response.get("content") == {}:  # 204: no body at all
                    del response["content"]
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc
