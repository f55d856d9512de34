"""What one channel (a device platform and the push service it is sent through) owns, in one record, so the
generic path (registration, fan-out, composition, sending, pacing) asks the channel and never branches on a
platform's name: its devices' address and how it is checked, the payload shapes and their byte limits, how
its credentials are read and its provider client built, which answers mean the address is gone, the quota
it is paced in and the local stand-in that plays its service."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from pushengine.payloads.base import Platform
from pushengine.providers.base import PushProvider, SendResult, SharedTokens

if TYPE_CHECKING:
    from pushengine.config import Settings

# Sends a minute this provider project accepts (pushengine/pacing.py), set on the app's credentials
# (`quota_per_minute`): overrides the provider's default.
QuotaPerMinute = Annotated[int, Field(ge=600, le=1_000_000_000)]


@dataclass(frozen=True, slots=True)
class Credentials:
    """Provider credentials as registration stores them: the secret (Secrets Manager), what the app's item
    keeps in the clear (`meta`), and a public key the answer shows."""

    secret: dict[str, Any]
    meta: dict[str, Any]
    public_key: str | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel: everything the generic path asks about a device's platform and its push service."""

    platform: str  # a device's `platform`: "ios"
    service: str  # the push service and the name of the app's credentials for it: "apns"
    address_field: str  # the device field holding its address: "token" or "subscription"
    entry_key: str  # that address's key in a send batch's device entry: "t" or "s"
    # the device's address fields ({field: value or None}) -> None, or ValueError("field: reason")
    check_address: Callable[[Mapping[str, Any]], None]
    shape: Platform  # the payload builder and byte limit a device of this platform gets
    # the credentials' request body -> what is stored (pydantic's ValidationError or InvalidInput when bad)
    credentials: Callable[[dict[str, Any], Settings], Credentials]
    # the stored secret -> a warm provider client (tokens: the APNs provider tokens shared across containers)
    provider: Callable[[dict[str, Any], Settings, SharedTokens | None], PushProvider]
    # the service's answer -> outcome; Outcome.PRUNED (the address is gone) marks the device invalid
    classify: Callable[..., SendResult]
    # (app id, stored credentials' meta, device entry) -> the quota scope it is paced in, e.g. "fcm:project"
    quota_scope: Callable[[str, Mapping[str, Any], Mapping[str, Any]], str]
    quota_per_minute: int | None  # the service's published quota; None: unpaced unless the app sets one
    standin: str  # "module:Class" of the local stand-in that plays this service (local/standins/)
    # the provider adapter's module: imported by the functions above when used (it loads httpx or h2), and
    # by the sender at its cold start (delivery/provider_pool.py), not by every function that checks devices
    adapter: str
    # other shapes a device may get, with the address that picks one (Web Push's declarative message)
    variants: tuple[tuple[Platform, Callable[[Any], bool]], ...] = ()
    live_activities: bool = False  # ActivityKit tokens may be registered on its devices

    @property
    def shapes(self) -> tuple[Platform, ...]:
        return (self.shape, *(shape for shape, _ in self.variants))

    def shape_for(self, address: object = None) -> Platform:
        """The builder for one device's address."""
        return next((shape for shape, picks in self.variants if picks(address)), self.shape)


def token_address(platform: str, pattern: str, reason: str) -> Callable[[Mapping[str, Any]], None]:
    """The check of a channel addressed by a `token` (a string the service issued) matching `pattern`."""
    compiled = re.compile(pattern)

    def check(fields: Mapping[str, Any]) -> None:
        if fields.get("subscription") is not None:
            raise ValueError(f"subscription: only for platform web, not {platform}")
        token = fields.get("token")
        if not token:
            raise ValueError(f"token: required for platform {platform}")
        if not compiled.fullmatch(token):
            raise ValueError(f"token: {reason}")

    return check
