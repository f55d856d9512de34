"""Routes of the devices function: apps, provider credentials, device registration."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pushengine import registry
from pushengine.auth import require
from pushengine.config import settings
from pushengine.dal.apps import AppsRepository, SecretsStore
from pushengine.dal.devices import DevicesRepository
from pushengine.http import Caller
from pushengine.models import AppCreated, AppIn, DeviceId, DeviceIn, DeviceOut, ProviderOut


class Deps:
    """Production adapters, made on first use; tests may replace them."""

    @cached_property
    def apps(self) -> AppsRepository:
        return AppsRepository(settings().apps_table)

    @cached_property
    def secrets(self) -> SecretsStore:
        return SecretsStore(settings().secrets_prefix)

    @cached_property
    def devices(self) -> DevicesRepository:
        s = settings()
        return DevicesRepository(s.devices_table, s.zones_table, s.shard_count)


deps = Deps()
router = APIGatewayHttpRouter()
caller = Caller()


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.post("/v1/apps", summary="Create an app (admin key)", responses={201: {"description": "created"}})
def create_app(body: AppIn) -> Response[AppCreated]:
    require(caller(router), "admin")
    return _json(201, registry.create_app(deps.apps, body.name).model_dump())


@router.put("/v1/apps/<app_id>/providers/<provider>", summary="Store provider credentials (server key)")
def put_provider(
    app_id: Annotated[str, Path(pattern=r"^app_[0-9a-f]{16}$")],
    provider: Annotated[str, Path(pattern=r"^(apns|fcm|webpush)$")],
    body: Annotated[dict[str, Any], Body()],
) -> ProviderOut:
    require(caller(router), "server", app_id=app_id)
    return registry.put_provider(deps.apps, deps.secrets, app_id, provider, body)


@router.put("/v1/devices/<device_id>", summary="Register or update a device (client key)")
def put_device(device_id: Annotated[DeviceId, Path()], body: DeviceIn) -> Response[DeviceOut]:
    principal = require(caller(router), "client", "server")
    out, created = registry.register_device(deps.devices, str(principal.app_id), device_id, body)
    return _json(201 if created else 200, out.model_dump(mode="json", exclude_none=True))


@router.get("/v1/devices/<device_id>", summary="Read a device (client key)")
def get_device(device_id: Annotated[DeviceId, Path()]) -> DeviceOut:
    principal = require(caller(router), "client", "server")
    return registry.get_device(deps.devices, str(principal.app_id), device_id)


@router.delete("/v1/devices/<device_id>", summary="Unregister a device (client key)")
def delete_device(device_id: Annotated[DeviceId, Path()]) -> Response[None]:
    principal = require(caller(router), "client", "server")
    registry.delete_device(deps.devices, str(principal.app_id), device_id)
    return Response(status_code=204)
