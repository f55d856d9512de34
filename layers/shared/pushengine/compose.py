"""Composition: a campaign's message turned into what each device receives.

At creation, `check` refuses what could never be sent (a template that does not parse, a payload over a
push service's limit in its worst case); at send time, a `Composer` per campaign renders each device's
message (`pushengine.rendering`) and shapes it for its push service (`pushengine.payloads`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pushengine.channels import CHANNELS, SHAPES
from pushengine.content import Message, RenderedMessage, static_fields
from pushengine.errors import InvalidInput
from pushengine.payloads import live_activity
from pushengine.payloads.base import Platform, collapse_id, encode
from pushengine.providers.base import Notification
from pushengine.rendering import CompiledMessage, worst_case

if TYPE_CHECKING:
    from pushengine.models import CampaignSpec
    from pushengine.ports import DeviceStore

_MEMO_MAX = 20_000  # distinct rendered payloads kept per campaign and container


class PayloadTooLarge(InvalidInput):
    """The worst-case payload for a platform exceeds its limit: refused at campaign creation."""

    def __init__(self, platform: str, size: int, limit: int, *, field: str = "message") -> None:
        super().__init__(
            f"{platform} payload would be up to {size} bytes, over the {limit}-byte limit", field=field
        )
        self.platform = platform
        self.size = size
        self.limit = limit


def check(message: Message, message_id: str, *, prefix: str = "message") -> None:
    """Refuse what could never be sent: TemplateError names the first template that does not parse,
    PayloadTooLarge the first field whose worst-case payload is over a push service's limit."""
    CompiledMessage.compile(message, message_id, prefix=prefix)
    check_sizes(message, message_id, prefix=prefix)


def check_sizes(message: Message, campaign_id: str, *, prefix: str = "message") -> None:
    """Raise PayloadTooLarge when any locale's worst-case payload exceeds a platform's limit."""
    texts = [(prefix, message.title or "", message.body or "")] + [
        (
            f"{prefix}.localizations.{locale}",
            text.title or message.title or "",
            text.body or message.body or "",
        )
        for locale, text in (message.localizations or {}).items()
    ]
    url = worst_case(message.url) if message.url else None
    tag = collapse_id(campaign_id)
    for field, title, body in texts:
        r = RenderedMessage(worst_case(title), worst_case(body), url, **static_fields(message))
        for platform in SHAPES:
            size = platform.wire_size(platform.build(r, campaign_id, tag))
            if size > platform.limit:
                raise PayloadTooLarge(platform.service, size, platform.limit, field=field)


class Composer:
    """A campaign's compiled messages, one per variant, kept warm across batches.

    Payloads are memoised per render key (CompiledMessage.render_key) and platform: devices that read
    the same values render once, and Web Push/APNs reuse the serialised JSON too."""

    prunes = True  # a token its push service refuses for good is the device's: it leaves the audience

    def __init__(self, campaign_id: str, spec: CampaignSpec) -> None:
        self.campaign_id = campaign_id
        self.collapse_id = spec.collapse_id or collapse_id(campaign_id)
        self.data = spec.data  # a direct send's data: Liquid reads it as data.*
        self.journey = {k: str(v) for k, v in (getattr(spec, "journey", None) or {}).items()}
        self.ttl = spec.ttl_seconds
        self.transactional = transactional = spec.transactional
        self.priority = "high" if transactional else "normal"
        self.cap = None if transactional else spec.frequency_cap  # transactional ignores caps
        assert spec.message is not None  # a template is resolved into `message` before it is stored
        self.messages = {"default": CompiledMessage.compile(spec.message, campaign_id)}
        for v in spec.variants or []:
            self.messages[v.name] = CompiledMessage.compile(v.message, campaign_id)
        self._memo: dict[tuple[Any, ...], tuple[dict[str, Any], bytes | None]] = {}

    def _payload(self, rendered: RenderedMessage, shape: Platform) -> tuple[dict[str, Any], bytes | None]:
        payload = shape.build(rendered, self.campaign_id, self.collapse_id)
        if self.journey:  # a journey's send says which journey and step, where the campaign id goes
            shape.attach(payload, self.journey)
        return payload, encode(payload) if shape.shared_body else None

    def notification(self, entry: Mapping[str, Any]) -> Notification:
        """One send batch entry's notification; raises RenderError when its data breaks a template."""
        # `m`: the variant whose message it gets when that is not its own (an experiment's rest: the winner's)
        message = self.messages.get(entry.get("m") or entry.get("v", "default"), self.messages["default"])
        channel = CHANNELS[entry["p"]]
        address = entry.get(channel.entry_key)  # the device's token or subscription, as its channel keeps it
        context, shape = entry.get("c", {}), channel.shape_for(address)
        if self.data:
            context = {**context, "data": self.data}
        key = message.render_key(context)
        memo = None if key is None else (id(shape), key)  # shapes are module-level singletons
        hit = None if memo is None else self._memo.get(memo)
        if hit is None:
            hit = self._payload(message.render(context), shape)
            if memo is not None:
                if len(self._memo) >= _MEMO_MAX:
                    self._memo.clear()
                self._memo[memo] = hit
        return Notification(
            payload=hit[0], collapse_id=self.collapse_id, ttl_seconds=self.ttl, priority=self.priority,  # type: ignore[arg-type]
            encoded=hit[1], **{channel.address_field: address},
        )  # fmt: skip

    def prune(self, devices: DeviceStore, app_id: str, entry: Mapping[str, Any], reason: str) -> None:
        """The device's token is gone: the device leaves the audience (marked invalid)."""
        devices.mark_invalid(app_id, [entry["id"]], reason)


class ActivityComposer:
    """A Live Activity batch's notifications: the one body the request built (payloads/live_activity.py) to
    each token of the batch. Its sends ignore caps and quiet hours (the person asked for the activity), take
    the provider quota's transactional lane unless they start it, and go at the priority Apple asks for
    (`live_activity.priority`: an update with no alert at 5, so it costs the device's budget nothing).

    A push-to-start token APNs refuses for good (410, 400 BadDeviceToken) leaves its device, as a device token
    does, but the device stays: its own token was not refused. A refused activity token (an update's or an
    end's) is the activity's: it prunes nothing on the device."""

    cap = None

    def __init__(self, push: Mapping[str, Any]) -> None:
        self.payload = dict(push["payload"])
        self.transactional = push["payload"]["aps"]["event"] != "start"
        self.prunes = not self.transactional  # a start: the refused token is the device's push-to-start token
        self.ttl = int(push.get("ttl_seconds", 8 * 3600))
        self.priority = live_activity.priority(self.payload)
        self._encoded = encode(self.payload)

    def notification(self, entry: Mapping[str, Any]) -> Notification:
        return Notification(payload=self.payload, collapse_id="", ttl_seconds=self.ttl, priority=self.priority,
                            token=entry.get("t"), encoded=self._encoded)  # fmt: skip

    def prune(self, devices: DeviceStore, app_id: str, entry: Mapping[str, Any], reason: str) -> None:
        """The start's push-to-start token is gone: it leaves the device (a newer one the app sent stays)."""
        devices.forget_push_to_start(app_id, entry["id"], entry["t"])
