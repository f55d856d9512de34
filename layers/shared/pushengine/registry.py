"""Apps, provider credentials and devices: the logic behind the registration API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pushengine import webpush_keys
from pushengine.config import settings
from pushengine.dal.apps import AppsRepository, SecretsStore, require_app
from pushengine.dal.devices import DevicesRepository, public_view
from pushengine.errors import InvalidInput, NotFound
from pushengine.models import (
    ApnsIn,
    AppCreated,
    DeviceIn,
    DeviceOut,
    FcmIn,
    ProviderOut,
    UserDevice,
    UserOut,
    WebPushIn,
)
from pushengine.profiles import MAX_USER_DEVICES, PREFIX, profile_view
from pushengine.providers.apns import ApnsCredentials
from pushengine.providers.fcm import check_token_uri, parse_service_account


def create_app(apps: AppsRepository, name: str) -> AppCreated:
    item, client_key, server_key = apps.create(name)
    return AppCreated(app_id=item["app_id"], name=name, client_key=client_key, server_key=server_key,
                      identity_secret=item["identity_secret"], webhook_secret=item["webhook_secret"])  # fmt: skip


def put_provider(
    apps: AppsRepository, secrets: SecretsStore, app_id: str, provider: str, body: dict[str, Any]
) -> ProviderOut:
    """Validate credentials on the way in (a key that does not parse is a 400 naming the field)."""
    require_app(apps, app_id)
    secret, meta, out = _credentials(provider, body)
    if body.get("quota_per_minute"):  # validated with the credentials' model
        meta["quota_per_minute"] = int(body["quota_per_minute"])
    meta["secret_arn"] = secrets.put(f"{app_id}/{provider}", secret)
    apps.set_provider(app_id, provider, meta)
    return out


def _credentials(provider: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], ProviderOut]:
    if provider == "apns":
        apns = ApnsIn.model_validate(body)
        try:
            ApnsCredentials(**apns.model_dump(exclude={"quota_per_minute"}))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="body.private_key") from None
        meta = {"bundle_id": apns.bundle_id, "environment": apns.environment, "team_id": apns.team_id,
                "key_id": apns.key_id}  # fmt: skip
        return apns.model_dump(exclude={"quota_per_minute"}), meta, ProviderOut(provider="apns")
    if provider == "fcm":
        fcm = FcmIn.model_validate(body)
        try:
            account = parse_service_account(fcm.service_account)
            check_token_uri(account.token_uri, settings().fcm_endpoint)
        except ValueError as exc:
            name, _, reason = str(exc).partition(": ")
            inner = "" if name == "service_account" or not reason else f".{name}"
            raise InvalidInput(reason or str(exc), field=f"body.service_account{inner}") from None
        sa = fcm.service_account
        secret = sa if isinstance(sa, dict) else json.loads(sa)
        return secret, {"project_id": account.project_id}, ProviderOut(provider="fcm")
    if provider == "webpush":
        web = WebPushIn.model_validate(body)
        try:
            if web.private_key:
                key = webpush_keys.load_private_key(web.private_key)
                pem, public = webpush_keys.private_key_pem(key), webpush_keys.public_key_b64(key)
            else:
                pem, public = webpush_keys.generate_vapid_keys()
        except ValueError as exc:
            raise InvalidInput(str(exc), field="body.private_key") from None
        secret = {"private_key": pem, "subject": web.subject}
        meta = {"public_key": public, "subject": web.subject}
        return secret, meta, ProviderOut(provider="webpush", public_key=public)
    raise NotFound(f"unknown provider {provider!r}: use apns, fcm or webpush", field="provider")


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
