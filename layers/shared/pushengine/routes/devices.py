"""Routes of the devices function: apps, provider credentials, device registration."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path

from pushengine import anniversaries, app_settings, device_trust, registry
from pushengine.auth import Kind
from pushengine.bootstrap import Adapters, view
from pushengine.channels import BY_SERVICE
from pushengine.http import ApiRouter, caller
from pushengine.models import AppCreated, AppIn, DeviceId, DeviceIn, DeviceOut, DeviceRegistered, ProviderOut


def _index(deps: Deps, a: Adapters) -> anniversaries.IndexDeps:
    """Where a newly declared date attribute's index job runs from."""
    return anniversaries.IndexDeps(settings=a.settings, devices=deps.devices, automation=deps.automation,
                                   jobs=a.jobs, queue=a.queue)  # fmt: skip


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    settings = view(lambda _, a: a.settings)
    apps = view(lambda _, a: a.apps)
    secrets = view(lambda _, a: a.secrets)
    automation = view(lambda _, a: a.automation)
    devices = view(lambda _, a: a.devices)
    index = view(_index)


deps = Deps()
router = ApiRouter()
PROVIDER_PATTERN = f"^({'|'.join(BY_SERVICE)})$"  # the registered channels' credentials: apns, fcm, webpush


DEVICE_KEYS: tuple[Kind, ...] = ("client", "server")
gate = device_trust.Gate(lambda: deps.apps, lambda: deps.devices)
# what a client key sends beside it (pushengine.device_trust, pushengine.identity); documented per route
DeviceSecret = Annotated[str | None, Header(description="the device's secret (client key)")]
UserToken = Annotated[str | None, Header(description="HS256 user token for the body's user_id (client key)")]


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
    provider: Annotated[str, Path(pattern=PROVIDER_PATTERN)],
    body: Annotated[dict[str, Any], Body()],
) -> ProviderOut:
    return registry.put_provider(deps.apps, deps.secrets, app_id, provider, body, deps.settings)


@router.api(
    "PUT", "/v1/devices/<device_id>", keys=DEVICE_KEYS, status=(200, 201), answers=[409],
    summary="Register (201, with `device_secret`) or update (200) a device (client key: X-Device-Secret)",
    guard=gate.device_route,
)  # fmt: skip
def put_device(
    device_id: Annotated[DeviceId, Path()], body: DeviceIn,
    x_device_secret: DeviceSecret = None, x_user_token: UserToken = None,
) -> Response[DeviceRegistered]:  # fmt: skip
    principal = caller()
    app_id = str(principal.app_id)
    app = deps.apps.get(app_id)
    # the app's declared date attributes are indexed by month-day for anniversary campaigns
    declared = list(app_settings.of_app(app).get("date_attributes") or [])
    anniversaries.check_device(declared, body.attributes)
    before = deps.devices.get(app_id, device_id) if declared else None
    issued: list[str] = []  # the secret a new or claimed device gets, shown in this answer only
    fields = body.model_dump(exclude_none=True, mode="json")
    admit = gate.admit_registration(principal, app, x_device_secret, fields, issued)
    out, created = registry.register_device(deps.devices, app_id, device_id, body, admit)
    if declared:
        anniversaries.reindex(deps.automation, app_id, device_id, before, out.model_dump(), declared)
    answer = out.model_dump(mode="json", exclude_none=True) | ({"device_secret": issued[0]} if issued else {})
    return _json(201 if created else 200, answer)


@router.api(
    "GET", "/v1/devices/<device_id>", keys=DEVICE_KEYS, answers=[404],
    summary="Read a device (client key: X-Device-Secret)", guard=gate.device_route,
)  # fmt: skip
def get_device(device_id: Annotated[DeviceId, Path()], x_device_secret: DeviceSecret = None) -> DeviceOut:
    return registry.get_device(deps.devices, str(caller().app_id), device_id)


@router.api(
    "DELETE", "/v1/devices/<device_id>", keys=DEVICE_KEYS, status=204, answers=[404],
    summary="Unregister a device (client key: X-Device-Secret)", guard=gate.device_route,
)  # fmt: skip
def delete_device(
    device_id: Annotated[DeviceId, Path()], x_device_secret: DeviceSecret = None
) -> Response[None]:
    registry.delete_device(deps.devices, str(caller().app_id), device_id)
    return Response(status_code=204)
