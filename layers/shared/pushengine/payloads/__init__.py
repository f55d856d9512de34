"""What each push service receives for one rendered message: one pure builder per service (apns, fcm,
webpush, and Web Push's declarative shape for Apple's push service), each beside its service's limits;
`base` holds what they share. The provider adapters in
`pushengine.providers` send what these build."""

from __future__ import annotations

from pushengine.payloads import apns, fcm, webpush
from pushengine.payloads.base import Platform

BY_DEVICE_PLATFORM: dict[str, Platform] = {
    "ios": apns.PLATFORM,
    "android": fcm.PLATFORM,
    "web": webpush.PLATFORM,
}

# every shape a payload can take, for the worst-case size check at creation
SHAPES: tuple[Platform, ...] = (*BY_DEVICE_PLATFORM.values(), webpush.DECLARATIVE)


def shape_for(platform: str, subscription: object = None) -> Platform:
    """The builder for one device: its platform's, or the declarative one for a subscription on Apple's
    push service."""
    if platform == "web" and isinstance(subscription, dict) and webpush.is_declarative_endpoint(
        subscription.get("endpoint")
    ):
        return webpush.DECLARATIVE
    return BY_DEVICE_PLATFORM[platform]


def channel_of(platform: str) -> str:
    """The push service (provider channel) a device platform ("ios", "android", "web") is sent through."""
    return BY_DEVICE_PLATFORM[platform].service
