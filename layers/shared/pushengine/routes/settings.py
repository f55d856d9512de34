"""Routes of app defaults (server key of the app): quiet hours, app-wide cap, max_per_second, date attributes,
currency and attribution window."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from pushengine import app_settings
from pushengine.http import ApiRouter
from pushengine.models import AppSettingsIn, AppSettingsOut
from pushengine.routes.devices import deps

router = ApiRouter()
AppId = Annotated[str, Path(pattern=r"^app_[0-9a-f]{16}$")]


@router.api(
    "PUT", "/v1/apps/<app_id>/settings", keys=["server"], app_param="app_id", operator=True, answers=[404],
    summary="Set the app's defaults: quiet hours, app-wide frequency cap, max_per_second, date attributes, "
            "currency (ISO 4217), attribution_window_days",
)  # fmt: skip
def put_settings(app_id: AppId, body: AppSettingsIn) -> AppSettingsOut:
    return app_settings.put_settings(deps.apps, app_id, body, deps.index)


@router.api(
    "GET", "/v1/apps/<app_id>/settings", keys=["server"], app_param="app_id", operator=True, answers=[404],
    summary="Read the app's defaults",
)  # fmt: skip
def get_settings(app_id: AppId) -> AppSettingsOut:
    return app_settings.get_settings(deps.apps, app_id)
