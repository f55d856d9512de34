"""Routes of the devices function: apps, provider credentials, device registration."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from pushengine import anniversaries, app_settings, registry
from pushengine.auth import Kind
from pushengine.config import settings
from pushengine.dal.apps import AppsRepository, SecretsStore
from pushengine.dal.automation import AutomationRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.jobs import JobsRepository
from pushengine.dal.queues import SqsQueue
from pushengine.http import ApiRouter, caller
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
    def automation(self) -> AutomationRepository:
        return AutomationRepository(settings().automation_table)

    @cached_property
    def devices(self) -> DevicesRepository:
        s = settings()
        return DevicesRepository(s.devices_table, s.zones_table, s.shard_count)

    @cached_property
    def index(self) -> anniversaries.IndexDeps:
        """Where a newly declared date attribute's index job runs from."""
        s = settings()
        return anniversaries.IndexDeps(settings=s, devices=self.devices, automation=self.automation,
                                       jobs=JobsRepository(s.delivery_state_table), queue=SqsQueue())  # fmt: skip


deps = Deps()
router = ApiRouter()


DEVICE_KEYS: tuple[Kind, ...] = ("client", "server")


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.api("POST", "/v1/apps", keys=["admin"], status=201, summary="Create an app (admin key)")
def create_app(body: AppIn) -> Response[AppCreated]:
    return _json(201, registry.create_app(deps.apps, body.name).model_dump())


@router.api(
    "PUT", "/v1/apps/<app_id>/providers/<provider>", keys=["server"], app_param="app_id", operator=True, answers=[404],
    summary="Store provider credentials (server key of this app)",
)  # fmt: skip
def put_provider(
    app_id: Annotated[str, Path(pattern=r"^app_[0-9a-f]{16}$")],
    provider: Annotated[str, Path(pattern=r"^(apns|fcm|webpush)$")],
    body: Annotated[dict[str, Any], Body()],
) -> ProviderOut:
    return registry.put_provider(deps.apps, deps.secrets, app_id, provider, body)


@router.api(
    "PUT", "/v1/devices/<device_id>", keys=DEVICE_KEYS, status=(200, 201), answers=[409],
    summary="Register (201) or update (200) a device (client key)",
)  # fmt: skip
def put_device(device_id: Annotated[DeviceId, Path()], body: DeviceIn) -> Response[DeviceOut]:
    app_id = str(caller().app_id)
    # the app's declared date attributes are indexed by month-day for anniversary campaigns
    declared = list(app_settings.load(deps.apps, app_id).get("date_attributes") or [])
    anniversaries.check_device(declared, body.attributes)
    before = deps.devices.get(app_id, device_id) if declared else None
    out, created = registry.register_device(deps.devices, app_id, device_id, body)
    if declared:
        anniversaries.reindex(deps.automation, app_id, device_id, before, out.model_dump(), declared)
    return _json(201 if created else 200, out.model_dump(mode="json", exclude_none=True))


@router.api(
    "GET", "/v1/devices/<device_id>", keys=DEVICE_KEYS, answers=[404], summary="Read a device (client key)"
)
def get_device(device_id: Annotated[DeviceId, Path()]) -> DeviceOut:
    return registry.get_device(deps.devices, str(caller().app_id), device_id)


@router.api(
    "DELETE", "/v1/devices/<device_id>", keys=DEVICE_KEYS, status=204, answers=[404],
    summary="Unregister a device (client key)",
)  # fmt: skip
def delete_device(device_id: Annotated[DeviceId, Path()]) -> Response[None]:
    registry.delete_device(deps.devices, str(caller().app_id), device_id)
    return Response(status_code=204)
