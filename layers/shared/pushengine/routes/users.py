"""Routes of users (server key), served by the devices function: a user's devices, found by index."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from pushengine import erasure, registry
from pushengine.http import ApiRouter, caller
from pushengine.models import UserOut
from pushengine.routes.devices import deps

router = ApiRouter()
UserIdParam = Annotated[str, Path(min_length=1, max_length=128)]


_erasure = cache(erasure.default_deps)


@router.api(
    "GET", "/v1/users/<user_id>", keys=["server"], answers=[404],
    summary="A user's devices, without their push addresses (server key)",
)  # fmt: skip
def get_user(user_id: Annotated[str, Path(min_length=1, max_length=128)]) -> UserOut:
    return registry.get_user(deps.devices, str(caller().app_id), user_id)


@router.api(
    "DELETE", "/v1/users/<user_id>", keys=["server"], answers=[404],
    summary="Erase a user: every device, profile, frequency-cap item, deferred and dead-lettered copy; "
            "answers counts",
)  # fmt: skip
def delete_user(user_id: UserIdParam) -> erasure.ErasureOut:
    return erasure.erase_user(_erasure(), str(caller().app_id), user_id)
