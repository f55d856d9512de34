"""Routes of users (server key), served by the devices function: a user's devices, found by index."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pushengine import registry
from pushengine.auth import require
from pushengine.http import Caller
from pushengine.models import UserOut
from pushengine.routes.devices import deps

router = APIGatewayHttpRouter()
caller = Caller()


@router.get("/v1/users/<user_id>", summary="A user's devices, without their push addresses (server key)")
def get_user(user_id: Annotated[str, Path(min_length=1, max_length=128)]) -> UserOut:
    app_id = str(require(caller(router), "server").app_id)
    return registry.get_user(deps.devices, app_id, user_id)
