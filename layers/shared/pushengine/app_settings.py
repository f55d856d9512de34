"""App defaults (`PUT /v1/apps/{app_id}/settings`): quiet hours for devices without their own, an app-wide
frequency cap over every marketing send, a default `max_per_second`, the declared date attributes, the default
currency (`stats.revenue` is in it) and the attribution window (read by pushengine.analytics.app_defaults).

Campaign fields override them; transactional campaigns ignore caps and quiet hours. Stored as one map on
the app item, read through the apps repository's short cache (one read per container per 30 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pushengine import anniversaries
from pushengine.dal.apps import AppsRepository, now_iso, require_app
from pushengine.models import AppSettingsIn, AppSettingsOut, CampaignSpec

if TYPE_CHECKING:
    from pushengine.anniversaries import IndexDeps

# settings a PUT keeps when it leaves them out: dropping one would switch a client check off unseen
KEPT = ("device_secrets", "identity_verification", "client_event_rate")


def put_settings(
    apps: AppsRepository, app_id: str, body: AppSettingsIn, index: IndexDeps | None = None
) -> AppSettingsOut:
    """Replace the app's defaults; a date attribute declared here for the first time has the devices that
    already hold it indexed by a job (`index`: where the job's adapters are)."""
    stored = of_app(require_app(apps, app_id))
    before = set(stored.get("date_attributes") or [])
    kept = {k: stored[k] for k in KEPT if k in stored}
    values = {**kept, **body.model_dump(mode="json", exclude_none=True), "updated_at": now_iso()}
    apps.put_settings(app_id, values)
    if index is not None:
        for name in body.date_attributes:
            if name not in before:
                anniversaries.start_index(index, app_id, name)
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


def pacing_policy(defaults: Mapping[str, Any], spec: CampaignSpec) -> dict[str, Any]:
    """What a paced campaign's batches carry, whichever path queues them (delivery/pace.py): the rate, and
    the app's default quiet hours, which the sender checks each paced send's slot against."""
    rate = max_per_second(defaults, spec)
    if not rate:
        return {}
    policy: dict[str, Any] = {"rate": rate}
    if not spec.transactional and spec.quiet_hours != "ignore" and defaults.get("quiet_hours"):
        policy["quiet"] = defaults["quiet_hours"]
    return policy


def max_per_second(defaults: Mapping[str, Any], spec: CampaignSpec) -> float | None:
    rate = spec.max_per_second or defaults.get("max_per_second")
    return float(rate) if rate else None
