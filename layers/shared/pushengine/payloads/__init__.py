"""What each push service receives for one rendered message: one pure builder per service (apns, fcm,
webpush, and Web Push's declarative shape for Apple's push service), each beside its service's limits;
`base` holds what they share. The provider adapters in `pushengine.providers` send what these build, and
which builder a device gets is its channel's (`pushengine.channels`)."""

from __future__ import annotations

_FROM_CHANNELS = ("BY_DEVICE_PLATFORM", "SHAPES", "shape_for")


def __getattr__(name: str) -> object:
    """The names this package had before the channel registry, read from it on use, not at import (every
    channel imports the builders here); any other name is a submodule or missing."""
    if name not in _FROM_CHANNELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pushengine import channels

    if name == "BY_DEVICE_PLATFORM":
        return {platform: channel.shape for platform, channel in channels.CHANNELS.items()}
    return getattr(channels, name)
