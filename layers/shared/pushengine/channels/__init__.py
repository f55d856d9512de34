"""The channels the engine sends through, keyed by a device's platform: each is one `Channel` record
(`channels/base.py`) in its own module, and everything that differs between platforms (address, payload,
credentials, provider, pruning, pacing, stand-in) is read from here. README, "Adding a channel"."""

from __future__ import annotations

from pushengine.channels import apns, fcm, webpush
from pushengine.channels.base import Channel
from pushengine.payloads.base import Platform

CHANNELS: dict[str, Channel] = {
    channel.platform: channel for channel in (apns.CHANNEL, fcm.CHANNEL, webpush.CHANNEL)
}
BY_SERVICE: dict[str, Channel] = {channel.service: channel for channel in CHANNELS.values()}
# every device field that holds an address, whichever channel it belongs to
ADDRESS_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(channel.address_field for channel in CHANNELS.values()))


def channel_of(platform: str) -> Channel:
    return CHANNELS[platform]


def by_service(service: str) -> Channel:
    """The channel whose credentials are named `service` ("apns", "fcm", "webpush"); KeyError when none."""
    return BY_SERVICE[service]


# every shape a payload can take, for the worst-case size check at creation
SHAPES = tuple(shape for channel in CHANNELS.values() for shape in channel.shapes)


def shape_for(platform: str, address: object = None) -> Platform:
    """The builder for one device: its channel's, or the variant its address picks (a subscription on
    Apple's push service gets the declarative message)."""
    return CHANNELS[platform].shape_for(address)
