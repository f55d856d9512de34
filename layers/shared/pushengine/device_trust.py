"""What a client key must prove, since anyone can pull it out of an app: the device's own secret for
that device, a user token for a `user_id` (pushengine.identity), and a bounded rate of events.

- `PUT /v1/devices/{id}` with a client key on a new id makes a device secret, answered once
  (`device_secret`) and stored as a SHA-256 hash (256 random bits: no stretching needed). Every later
  client-key read, write, delete or event of that device carries it in `X-Device-Secret`.
- A device without a secret (imported, or registered before secrets existed) is claimed by a client `PUT`
  carrying the push address stored for it (`token`, or the subscription's `endpoint`); it gets a secret.
- Server keys need none. App settings `device_secrets` and `identity_verification`: "required" (new
  apps) or "off"; an app made before they existed has neither stored and keeps its old behaviour.

The edge runs `Gate.device_route` / `Gate.event_route` before the body is validated (a refusal changes
nothing); the registration's own write checks again against the very item it replaces
(`Gate.admit_registration`), so a race cannot slip past the first check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pushengine import identity
from pushengine.auth import Principal
from pushengine.dal.apps import AppsRepository
from pushengine.dal.devices import SECRET_HASH, DevicesRepository
from pushengine.dal.event_rate import EventRate
from pushengine.errors import Forbidden, NotFound, TooManyRequests
from pushengine.models import DeviceId

HEADER = "x-device-secret"
SETTING = "device_secrets"  # "required" | "off"; absent (an app made before secrets existed): off
RATE_SETTING = "client_event_rate"
DEFAULT_CLIENT_EVENT_RATE = 120  # client events per device (or user) per minute
_NO_HASH = "0" * 64
_DEVICE_ID: TypeAdapter[str] = TypeAdapter(DeviceId)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(stored_hash: str | None, given: str | None) -> bool:
    """Constant time whatever is missing: a device without a hash, or a request without a secret."""
    same = hmac.compare_digest(hash_secret(given or ""), str(stored_hash or _NO_HASH))
    return same and bool(stored_hash) and bool(given)


def required(app: Mapping[str, Any] | None) -> bool:
    return ((app or {}).get("settings") or {}).get(SETTING) == "required"


def client_event_rate(app: Mapping[str, Any] | None) -> int:
    return int(((app or {}).get("settings") or {}).get(RATE_SETTING) or DEFAULT_CLIENT_EVENT_RATE)


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A request header by its lower-case name, whatever case the client sent."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def push_address(device: Mapping[str, Any]) -> str | None:
    """What proves a device: its provider token, or its Web Push subscription's endpoint."""
    subscription = device.get("subscription")
    endpoint = subscription.get("endpoint") if isinstance(subscription, Mapping) else None
    token = device.get("token")
    found = token if isinstance(token, str) and token else endpoint
    return found if isinstance(found, str) and found else None


def same_address(stored: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    mine, theirs = push_address(stored), push_address(given)
    return bool(mine and theirs) and hmac.compare_digest(str(mine).encode(), str(theirs).encode())


def is_device_id(value: Any) -> bool:
    try:
        _DEVICE_ID.validate_python(value)
    except ValidationError:
        return False
    return True


_UNCLAIMED = "this device has no secret yet: register it again (PUT) with its own push address to claim it"


class Gate:
    """The checks, over the repositories they read (providers, so the routes' deps stay lazy)."""

    def __init__(
        self,
        apps: Callable[[], AppsRepository],
        devices: Callable[[], DevicesRepository],
        rate: Callable[[], EventRate] | None = None,
    ) -> None:
        self._apps, self._devices, self._rate = apps, devices, rate

    # ---------- devices ----------
    def device_route(
        self, principal: Principal, event: Mapping[str, Any], body: Callable[[], dict[str, Any]]
    ) -> None:
        """GET, PUT, DELETE /v1/devices/{id}: a client key proves the device (a PUT may claim one) and,
        for a body naming a user, the user."""
        if principal.kind != "client":
            return
        app_id, headers = str(principal.app_id), event.get("headers")
        app = self._apps().get(app_id)
        method = str(event.get("routeKey", "")).split(" ")[0]
        device_id = str((event.get("pathParameters") or {}).get("device_id", ""))
        current = None
        if required(app) and is_device_id(device_id):  # else no device has it: validation answers 400
            current = self._devices().get(app_id, device_id)
            if current is not None:
                if current.get(SECRET_HASH):
                    if not matches(current[SECRET_HASH], header(headers, HEADER)):
                        raise Forbidden("send this device's secret in X-Device-Secret", field=HEADER)
                elif method != "PUT":
                    raise Forbidden(_UNCLAIMED, field=HEADER)
        if method == "PUT":
            user_id = body().get("user_id")
            # a proven device restating the user it is already linked to claims nothing new (the service
            # worker re-registers without the page's token); naming another user needs that user's token
            kept = (
                current is not None and bool(current.get(SECRET_HASH)) and current.get("user_id") == user_id
            )
            if not kept:
                self._user(app, user_id, headers)

    def device_named(
        self, principal: Principal, event: Mapping[str, Any], body: Callable[[], dict[str, Any]]
    ) -> None:
        """A client route about a registered device other than its registration (a Live Activity's token
        report): the device exists and, where the app requires secrets, is proven. Claiming is only PUT
        /v1/devices' (by its push address): a device without a secret yet is refused here."""
        if principal.kind != "client":
            return
        app_id = str(principal.app_id)
        device_id = (event.get("pathParameters") or {}).get("device_id")
        if not is_device_id(device_id):  # validation's 400
            return
        device = self._devices().get(app_id, str(device_id))
        if device is None:
            raise NotFound("device not found", field="device_id")
        if required(self._apps().get(app_id)) and not matches(device.get(SECRET_HASH), header(event.get("headers"), HEADER)):
            reason = "send this device's secret in X-Device-Secret" if device.get(SECRET_HASH) else _UNCLAIMED
            raise Forbidden(reason, field=HEADER)

    def admit_registration(
        self, principal: Principal, app: Mapping[str, Any] | None, given: str | None,
        fields: Mapping[str, Any], issued: list[str],
    ) -> Callable[[dict[str, Any] | None], dict[str, Any]] | None:  # fmt: skip
        """For DevicesRepository.put: what a client registration may write over the current item (a new
        device or a claim gets a secret, put in `issued`; a wrong secret or another address is refused)."""
        if principal.kind != "client" or not required(app):
            return None

        def admit(current: dict[str, Any] | None) -> dict[str, Any]:
            issued.clear()  # the write may be tried again over a newer item
            if current is not None and current.get(SECRET_HASH):
                if not matches(current[SECRET_HASH], given):
                    raise Forbidden("send this device's secret in X-Device-Secret", field=HEADER)
                return {}
            if current is not None and not same_address(current, fields):
                raise Forbidden(_UNCLAIMED, field=HEADER)
            issued.append(new_secret())
            return {SECRET_HASH: hash_secret(issued[0])}

        return admit

    def reset(self, app_id: str, device_id: str) -> str:
        """A new secret for the device (the server key's reset): the old one stops at once."""
        secret = new_secret()
        if not self._devices().set_secret(app_id, device_id, hash_secret(secret)):
            raise NotFound("device not found", field="device_id")
        return secret

    # ---------- events ----------
    def event_route(
        self, principal: Principal, event: Mapping[str, Any], body: Callable[[], dict[str, Any]]
    ) -> None:
        """POST /v1/events: the one event, before it is validated."""
        if principal.kind == "client":
            self.event(principal, self._apps().get(str(principal.app_id)), body(), event.get("headers"))

    def event(
        self, principal: Principal, app: Mapping[str, Any] | None, raw: Mapping[str, Any],
        headers: Mapping[str, Any] | None,
    ) -> None:  # fmt: skip
        """One client event (alone or in a batch), as posted: its device exists and is proven, its user is
        verified, and the device (or user) is under the app's rate. A refusal takes no event-name slot."""
        if principal.kind != "client":
            return
        app_id = str(principal.app_id)
        device_id, user_id = raw.get("device_id"), raw.get("user_id")
        if is_device_id(device_id):  # a device id that is not one is validation's 400
            assert isinstance(device_id, str)
            device = self._devices().get(app_id, device_id)
            if device is None:
                raise NotFound("device not found", field="body.device_id")
            if required(app) and not matches(device.get(SECRET_HASH), header(headers, HEADER)):
                reason = (
                    "send this device's secret in X-Device-Secret" if device.get(SECRET_HASH) else _UNCLAIMED
                )
                raise Forbidden(reason, field=HEADER)
        self._user(app, user_id, headers)
        subject = f"device#{device_id}" if is_device_id(device_id) else f"user#{user_id}"
        if self._rate is not None and (is_device_id(device_id) or isinstance(user_id, str)):
            limit = client_event_rate(app)
            wait = self._rate().take(app_id, subject, limit)
            if wait is not None:
                raise TooManyRequests(
                    f"over {limit} client events a minute for this {subject.split('#')[0]}",
                    retry_after=wait, field="body.device_id" if is_device_id(device_id) else "body.user_id",
                )  # fmt: skip

    # ---------- users ----------
    @staticmethod
    def _user(app: Mapping[str, Any] | None, user_id: Any, headers: Mapping[str, Any] | None) -> None:
        if user_id is None or not identity.required(app):
            return
        secret = (app or {}).get("identity_secret")
        identity.verify(str(secret) if secret else None, header(headers, identity.HEADER), str(user_id))
