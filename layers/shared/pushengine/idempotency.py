"""`Idempotency-Key` on every POST that creates something, with Powertools' idempotency utility and its
DynamoDB persistence: the same key and body within 24 h answer the first response and create nothing;
the same key with another body is a 422. A request that failed (4xx, crash) leaves no record, so its
retry runs again. Keys are scoped per app and route, so two apps (or routes) never share one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel

from pushengine.bootstrap import adapters
from pushengine.errors import Conflict, InvalidInput, Unprocessable
from pushengine.http import caller

HEADER = "idempotency-key"
WINDOW_SECONDS = 24 * 3600
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's examples
_work: ContextVar[Callable[[], dict[str, Any]]] = ContextVar("idempotent_work")


def _perform(request: dict[str, Any]) -> dict[str, Any]:
    return _work.get()()


_config = IdempotencyConfig(
    event_key_jmespath="key",
    payload_validation_jmespath="body",
    expires_after_seconds=WINDOW_SECONDS,
    raise_on_no_idempotency_key=True,
)


@lru_cache(maxsize=32)
def _idempotent(store: BasePersistenceLayer) -> Callable[..., dict[str, Any]]:
    return idempotent_function(  # type: ignore[no-any-return]
        _perform,
        data_keyword_argument="request",
        persistence_store=store,
        config=_config,
    )


def key_of(headers: Mapping[str, str] | None) -> str | None:
    """The request's Idempotency-Key, or None; a malformed one is a 400 naming the header."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == HEADER), None)
    if value is None:
        return None
    if not _KEY.match(value):
        raise InvalidInput("1 to 255 visible ASCII characters", field="idempotency-key")
    return value


def answer(
    router: Any, route: str, body: BaseModel | dict[str, Any], make: Callable[[], tuple[int, Any]]
) -> Response[Any]:
    """The route's answer under the request's Idempotency-Key (if any), scoped to the caller's app."""
    _config.register_lambda_context(router.lambda_context)  # an in-progress record expires with the call
    scope = f"{caller().app_id}#{route}"
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return once(key_of(router.current_event.headers), scope, payload, make)


def once(key: str | None, scope: str, body: Any, make: Callable[[], tuple[int, Any]]) -> Response[Any]:
    """Run `make` (→ status, JSON-able body) once per (scope, key, body); later calls answer its result."""
    if key is None:
        status, out = make()
        return Response(status, content_types.APPLICATION_JSON, out)
    token = _work.set(lambda: dict(zip(("status", "body"), make(), strict=True)))
    try:
        answer = _idempotent(adapters().idempotency)(request={"key": f"{scope}#{key}", "body": body})
    except IdempotencyValidationError:
        raise Unprocessable(
            "this Idempotency-Key was used with another body in the last 24 hours", field="idempotency-key"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "a request with this Idempotency-Key is still running; retry", field="idempotency-key"
        ) from None
    finally:
        _work.reset(token)
    return Response(int(answer["status"]), content_types.APPLICATION_JSON, answer["body"])
