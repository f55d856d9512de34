"""What each push service receives for one rendered message: one pure builder per service (apns, fcm,
webpush), each beside its service's limits; `base` holds what they share. The provider adapters in
`pushengine.providers` send what these build."""

from __future__ import annotations

from pushengine.payloads import apns, fcm, webpush
from pushengine.payloads.base import Platform

BY_DEVICE_PLATFORM: dict[str, Platform] = {
    "ios": apns.PLATFORM,
    "android": fcm.PLATFORM,
    "web": webpush.PLATFORM,
}


def channel_of(platform: str) -> str:
    """The push service (provider channel) a device platform ("ios", "android", "web") is sent through."""
    return BY_DEVICE_PLATFORM[platform].service
