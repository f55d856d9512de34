"""Behaviour profiles: what a device's events add up to, per event name.

Each event name keeps four values on the device's own item, as top-level attributes named like
the filter paths that read them: `events.<name>.first`, `.last` (UTC timestamps), `.count` and
`.sum` (of the events' `value`). The audience index projects the whole device item, so the
segment query sees the profile with no extra read. Top-level attributes let one UpdateItem
create or bump them (`ADD`, `if_not_exists`) without a parent map that would first have to exist.

Bounds: at most MAX_EVENT_NAMES names per app (a registry item per app), so a profile is at most
400 attributes (about 25 KB), far under DynamoDB's 400 KB item limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pushengine.errors import InvalidInput, NotFound
from pushengine.typical_time import OPEN_EVENTS, OPEN_TIMES, epoch_minute

EVENT_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"
PREFIX = "events."
FIELDS = ("first", "last", "count", "sum")
TIME_FIELDS = frozenset({"first", "last"})
MAX_EVENT_NAMES = 100
MAX_USER_DEVICES = 100  # a user's event updates at most this many of their devices


def attr(name: str, field: str) -> str:
    return f"{PREFIX}{name}.{field}"


def parse_attr(path: str) -> tuple[str, str] | None:
    """(name, field) of an `events.<name>.<field>` path; names may hold dots, the field never does."""
    if not path.startswith(PREFIX):
        return None
    name, dot, field = path[len(PREFIX) :].rpartition(".")
    return (name, field) if dot and name else None


def stamp(moment: datetime) -> str:
    """Fixed-width UTC with milliseconds, so DynamoDB's string order is time order."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def profile_view(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{name: {first, last, count, sum}} from a device item's profile attributes."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in item.items():
        parsed = parse_attr(key)
        if parsed and parsed[1] in FIELDS:
            out.setdefault(parsed[0], {})[parsed[1]] = value
    return out


def profile_attrs(item: Mapping[str, Any]) -> dict[str, Any]:
    """The profile attributes of a device item, to carry over when the device is re-registered."""
    return {k: v for k, v in item.items() if k.startswith(PREFIX) or k == OPEN_TIMES}


class ProfileStore(Protocol):
    def admit_name(self, app_id: str, name: str) -> bool: ...

    def knows_name(self, app_id: str, name: str) -> bool: ...

    def has_device(self, app_id: str, device_id: str) -> bool: ...

    def user_devices(self, app_id: str, user_id: str, limit: int) -> list[str]: ...

    def apply(
        self, app_id: str, device_id: str, name: str, at: str, value: float | None, opened: int | None = None
    ) -> bool: ...


def record_behaviour(
    store: ProfileStore,
    app_id: str,
    *,
    name: str,
    device_id: str | None,
    user_id: str | None,
    at: datetime,
    value: float | None,
) -> Sequence[str]:
    """Add one event to the profile of its device, or of each of its user's devices; the ids updated.
    An event of an unknown device or user takes no event-name slot: its name is admitted only once its
    devices are known to exist (a new name costs one read more)."""
    if device_id is not None:
        targets, field = [device_id], "body.device_id"
        missing = not store.knows_name(app_id, name) and not store.has_device(app_id, device_id)
    else:
        assert user_id is not None  # the model demands exactly one
        targets, field = store.user_devices(app_id, user_id, MAX_USER_DEVICES), "body.user_id"
        missing = not targets
    if missing:
        raise NotFound("device not found" if device_id else "no device of this user found", field=field)
    if not store.admit_name(app_id, name):
        raise InvalidInput(
            f"this app already has {MAX_EVENT_NAMES} distinct event names; reuse one of them",
            field="body.name",
        )
    amount = None if value is None else float(value)
    opened = epoch_minute(at) if name in OPEN_EVENTS else None  # an open also feeds the typical time
    updated = [d for d in targets if store.apply(app_id, d, name, stamp(at), amount, opened)]
    if not updated:
        raise NotFound("device not found" if device_id else "no device of this user found", field=field)
    return updated
