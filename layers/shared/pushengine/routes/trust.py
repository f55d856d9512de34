"""Routes of the secrets a server key resets (devices function): a device's secret, the app's identity
secret and its webhook signing secret (pushengine.device_trust, pushengine.identity,
pushengine.journeys.webhook)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

from pushengine.http import ApiRouter, caller
from pushengine.models import DeviceId
from pushengine.routes.devices import deps, gate

router = ApiRouter()
AppId = Annotated[str, Path(pattern=r"^app_[0-9a-f]{16}$")]


class DeviceSecretOut(BaseModel):
    device_id: str
    device_secret: str  # shown once; the device's previous secret no longer works


class IdentitySecretOut(BaseModel):
    app_id: str
    identity_secret: str  # signs user tokens; tokens signed with the previous one no longer verify


@router.api(
    "POST", "/v1/devices/<device_id>/secret", keys=["server"], answers=[404], operator=True,
    summary="Issue a device a new secret (server key): the old one stops working",
)  # fmt: skip
def reset_device_secret(device_id: Annotated[DeviceId, Path()]) -> DeviceSecretOut:
    secret = gate.reset(str(caller().app_id), device_id)
    return DeviceSecretOut(device_id=device_id, device_secret=secret)


@router.api(
    "POST", "/v1/apps/<app_id>/identity-secret", keys=["server"], app_param="app_id", answers=[404], operator=True,
    summary="Rotate the app's identity secret (server key of this app): user tokens are signed with it",
)  # fmt: skip
def rotate_identity_secret(app_id: AppId) -> IdentitySecretOut:
    return IdentitySecretOut(app_id=app_id, identity_secret=deps.apps.rotate_identity_secret(app_id))


class WebhookSecretOut(BaseModel):
    app_id: str
    webhook_secret: str  # signs journey webhook calls from now on; shown once


@router.api(
    "POST", "/v1/apps/<app_id>/webhook-secret", keys=["server"], app_param="app_id", answers=[404], operator=True,
    summary="Rotate the app's webhook signing secret (server key of this app): journey webhooks are signed with it",
)  # fmt: skip
def rotate_webhook_secret(app_id: AppId) -> WebhookSecretOut:
    return WebhookSecretOut(app_id=app_id, webhook_secret=deps.apps.rotate_webhook_secret(app_id))
