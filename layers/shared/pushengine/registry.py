"""Apps, provider credentials and devices: the logic behind the registration API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushengine.channels import BY_SERVICE
from pushengine.config import Settings
from pushengine.dal.apps import AppsRepository, SecretsStore, require_app
from pushengine.dal.devices import DevicesRepository, public_view
from pushengine.errors import NotFound
from pushengine.models import AppCreated, DeviceIn, DeviceOut, ProviderOut, UserDevice, UserOut
from pushengine.profiles import MAX_USER_DEVICES, PREFIX, profile_view


def create_app(apps: AppsRepository, name: str) -> AppCreated:
    item, client_key, server_key = apps.create(name)
    return AppCreated(app_id=item["app_id"], name=name, client_key=client_key, server_key=server_key,
                      identity_secret=item["identity_secret"], webhook_secret=item["webhook_secret"])  # fmt: skip


def put_provider(
    apps: AppsRepository, secrets: SecretsStore, app_id: str, provider: str, body: dict[str, Any],
    settings: Settings | None = None,
) -> ProviderOut:
    """Validate credentials on the way in (a key that does not parse is a 400 naming the field). `settings`:
    the function's (the endpoints credentials must match); without, the built-in defaults."""
    require_app(apps, app_id)
    channel = BY_SERVICE.get(provider)
    if channel is None:
        *others, last = BY_SERVICE
        raise NotFound(f"unknown provider {provider!r}: use {', '.join(others)} or {last}", field="provider")
    stored = channel.credentials(body, settings or Settings())
    meta = stored.meta
    if body.get("quota_per_minute"):  # validated with the credentials' model
        meta["quota_per_minute"] = int(body["quota_per_minute"])
    meta["secret_arn"] = secrets.put(f"{app_id}/{provider}", stored.secret)
    apps.set_provider(app_id, provider, meta)
    return ProviderOut(provider=provider, public_key=stored.public_key)


def register_device(
    devices: DevicesRepository, app_id: str, device_id: str, body: DeviceIn,
    admit: Callable[[dict[str, Any] | None], dict[str, Any]] | None = None,
) -> tuple[DeviceOut, bool]:  # fmt: skip
    """`admit`: what the caller must prove over the current device (pushengine.device_trust)."""
    fields = body.model_dump(exclude_none=True, mode="json")
    item, created = devices.put(app_id, device_id, fields, admit)
    return device_out(item), created


def get_device(devices: DevicesRepository, app_id: str, device_id: str) -> DeviceOut:
    item = devices.get(app_id, device_id)
    if item is None:
        raise NotFound("device not found", field="device_id")
    return device_out(item)


def delete_device(devices: DevicesRepository, app_id: str, device_id: str) -> None:
    """`DELETE /v1/devices/{id}` erases the device everywhere (pushengine.erasure); 404 when it is not there."""
    from pushengine import erasure  # the erasure reaches the other stores: built on first use

    erasure.erase_device(erasure.default_deps(devices), app_id, device_id)


def device_out(item: dict[str, Any]) -> DeviceOut:
    return DeviceOut.model_validate(_view(item))


def _view(item: dict[str, Any]) -> dict[str, Any]:
    """A device item as the API shows it: its behaviour profile grouped under `events`."""
    plain = {k: v for k, v in public_view(item).items() if not k.startswith(PREFIX)}
    return {**plain, "events": profile_view(item)}


def get_user(devices: DevicesRepository, app_id: str, user_id: str) -> UserOut:
    found = devices.of_user(app_id, user_id, limit=MAX_USER_DEVICES)
    if not found:
        raise NotFound("no device of this user found", field="user_id")
    # UserDevice has no token or subscription: a user's listing never shows push addresses.
    return UserOut(user_id=user_id, devices=[UserDevice.model_validate(_view(d)) for d in found])
