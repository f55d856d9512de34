"""App defaults (`PUT /v1/apps/{app_id}/settings`): quiet hours for devices without their own, an app-wide
frequency cap over every marketing send, a default `max_per_second`, the declared date attributes.

Campaign fields override them; transactional campaigns ignore caps and quiet hours. Stored as one map on
the app item, read through the apps repository's short cache (one read per container per 30 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushengine.dal.apps import AppsRepository, now_iso, require_app
from pushengine.models import AppSettingsIn, AppSettingsOut, CampaignSpec

# settings a PUT keeps when it leaves them out: dropping one would switch a client check off unseen
KEPT = ("device_secrets", "identity_verification", "client_event_rate")


def put_settings(apps: AppsRepository, app_id: str, body: AppSettingsIn) -> AppSettingsOut:
    stored = of_app(require_app(apps, app_id))
    kept = {k: stored[k] for k in KEPT if k in stored}
    values = {**kept, **body.model_dump(mode="json", exclude_none=True), "updated_at": now_iso()}
    apps.put_settings(app_id, values)
    return AppSettingsOut(app_id=app_id, **values)


def get_settings(apps: AppsRepository, app_id: str) -> AppSettingsOut:
    return AppSettingsOut(app_id=app_id, **of_app(require_app(apps, app_id)))


def of_app(app: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored defaults of an app item ({} when it has none)."""
    return dict((app or {}).get("settings") or {})


def load(apps: AppsRepository | None, app_id: str) -> dict[str, Any]:
    return of_app(apps.get(app_id)) if apps is not None else {}


def batch_policy(defaults: Mapping[str, Any], spec: CampaignSpec) -> dict[str, Any]:
    """What a send batch carries from the app's defaults for the sender: the app-wide cap (marketing only)."""
    if spec.transactional or not defaults.get("frequency_cap"):
        return {}
    return {"app_cap": defaults["frequency_cap"]}


def max_per_second(defaults: Mapping[str, Any], spec: CampaignSpec) -> float | None:
    rate = spec.max_per_second or defaults.get("max_per_second")
    return float(rate) if rate else None
