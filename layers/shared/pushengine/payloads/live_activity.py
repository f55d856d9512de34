"""The APNs body of a Live Activity push: start (to a push-to-start token), update and end (to the started
activity's own token). Apple, "Starting and updating Live Activities with ActivityKit push notifications":
the request goes with `apns-push-type: liveactivity` on the topic `<bundle id>.push-type.liveactivity`, and
`aps` carries `event`, `timestamp` (seconds: the device ignores a push older than the one it last took),
`content-state` (the activity's ContentState as JSON), a start also `attributes-type`, `attributes` and an
`alert`; `stale-date` and `dismissal-date` are epoch seconds. Pure: the caller gives the timestamp.

Priority (the same article, "Determine the update frequency"): priority 10 is delivered at once and draws on
the device's budget for the activity, past which the system throttles its updates; priority 5 is delivered
as power allows and costs no budget. An update with nothing to alert goes at 5; an alerting update, a start
(it always alerts) and an end go at 10, as Apple's examples send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pushengine.payloads.apns import MAX_PAYLOAD_BYTES
from pushengine.payloads.base import payload_size, present

PUSH_TYPE = "liveactivity"
TOPIC_SUFFIX = ".push-type.liveactivity"
Event = Literal["start", "update", "end"]
EVENTS: tuple[Event, ...] = ("start", "update", "end")


def topic(bundle_id: str) -> str:
    """The apns-topic of a Live Activity push for an app."""
    return bundle_id + TOPIC_SUFFIX


def is_live_activity(payload: Mapping[str, Any]) -> bool:
    """A body this module built: its `aps` names an ActivityKit event."""
    aps = payload.get("aps")
    return isinstance(aps, Mapping) and aps.get("event") in EVENTS


def _seconds(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def payload(
    event: Event,
    timestamp: datetime,
    *,
    content_state: Mapping[str, Any] | None = None,
    attributes_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    alert: Mapping[str, Any] | None = None,
    stale_date: datetime | None = None,
    dismissal_date: datetime | None = None,
) -> dict[str, Any]:
    """The body, keys in Apple's order. A start without its attributes type, attributes or alert, or an
    update without a content state, is refused (ValueError naming the field): APNs would take the request
    and the device would drop it."""
    if event == "start":
        for name, value in (("attributes_type", attributes_type), ("attributes", attributes), ("alert", alert)):
            if value is None:
                raise ValueError(f"{name}: a start needs it")
    if event == "update" and content_state is None:
        raise ValueError("content_state: an update needs it")
    aps: dict[str, Any] = {"timestamp": int(timestamp.timestamp()), "event": event}
    aps |= present(
        ("content-state", None if content_state is None else dict(content_state)),
        ("attributes-type", attributes_type if event == "start" else None),
        ("attributes", dict(attributes) if event == "start" and attributes is not None else None),
        ("alert", None if alert is None else dict(alert)),
        ("stale-date", _seconds(stale_date)),
        ("dismissal-date", _seconds(dismissal_date) if event == "end" else None),
    )
    return {"aps": aps}


def priority(payload: Mapping[str, Any]) -> Literal["high", "normal"]:
    """The push's priority: `normal` (apns-priority 5) for an update without an alert, else `high` (10)."""
    aps = payload["aps"]
    return "normal" if aps.get("event") == "update" and aps.get("alert") is None else "high"


def oversize(body: Mapping[str, Any]) -> int | None:
    """The body's size when it is over APNs' 4096 bytes, else None."""
    size = payload_size(body)
    return size if size > MAX_PAYLOAD_BYTES else None
