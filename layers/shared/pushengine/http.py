"""The HTTP edge every API function shares: resolver, error mapping, and who is calling."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from pushengine.auth import Principal, authenticate, bearer
from pushengine.config import settings
from pushengine.dal.apps import AppsRepository
from pushengine.errors import DomainError
from pushengine.observability import logger, metrics, tracer

_FIELD_PREFIX = re.compile(r"^(?:Value error, )?([A-Za-z_][\w.\[\]]*): (.*)$", re.S)


def _field_and_reason(error: dict[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in error.get("loc", ()) if not str(part).startswith("function-after")]
    reason = str(error.get("msg", "invalid"))
    match = _FIELD_PREFIX.match(reason)
    if match and error.get("type") == "value_error":  # model-level checks name their field in the message
        named = match.group(1)
        loc, reason = (loc if loc and loc[-1] == named else [*loc, named]), match.group(2)
    elif reason.startswith("Value error, "):
        reason = reason.removeprefix("Value error, ")
    # Literal/union branches add type names to the location; they are noise to a caller.
    loc = [
        p for p in loc if not p[:1].isupper() and p not in {"str", "int", "float", "bool", "dict[str,any]"}
    ]
    return {"field": ".".join(loc), "reason": reason}


def field_errors(exc: ValidationError, *prefix: str) -> list[dict[str, str]]:
    """A pydantic error as the API's [{field, reason}], located under `prefix` (e.g. "body", "events[3]")."""
    return [_field_and_reason({**e, "loc": (*prefix, *e["loc"])}) for e in exc.errors()]


def error_response(status: int, message: str, errors: Iterable[dict[str, str]] = ()) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, "errors": list(errors)},
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

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response:
        errors = [{"field": exc.field, "reason": exc.reason}] if exc.field else []
        return error_response(exc.status, exc.reason, errors)

    return app


class Caller:
    """Authenticates the current request against the admin key hash or the app's stored key hashes."""

    def __init__(self, apps: AppsRepository | None = None) -> None:
        self._apps = apps

    @property
    def apps(self) -> AppsRepository:
        if self._apps is None:
            self._apps = AppsRepository(settings().apps_table)
        return self._apps

    def __call__(self, app: APIGatewayHttpResolver | APIGatewayHttpRouter) -> Principal:
        principal = authenticate(
            bearer(app.current_event.headers),
            admin_key_hash=settings().admin_key_hash,
            load_app=self.apps.get,
        )
        logger.append_keys(app_id=principal.app_id, key_kind=principal.kind)
        return principal


def api_handler(*routers: APIGatewayHttpRouter) -> tuple[APIGatewayHttpResolver, Callable[..., dict]]:
    """The resolver and the Lambda entry point of an API function, with the common decorator stack."""
    app = make_resolver(*routers)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict, context: LambdaContext) -> dict:
        return app.resolve(event, context)

    return app, lambda_handler
