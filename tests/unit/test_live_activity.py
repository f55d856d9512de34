"""Live Activities without a network: the payload builder (a table of input -> exact body), the bodies' and
the device's validation (each bad input -> the field it names), the 4 KB check, and the APNs headers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pushengine import live_activities
from pushengine.compose import ActivityComposer
from pushengine.errors import InvalidInput
from pushengine.http import field_errors
from pushengine.models import DeviceIn
from pushengine.payloads import live_activity
from pushengine.providers.base import Notification
from tests.unit.test_apns_provider import DEVICE, T0, provider

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
TS = int(AT.timestamp())
STALE = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
STATE = {"score": "1-0", "minute": 52}
ALERT = {"title": "Goal!", "body": "1-0"}


@pytest.mark.parametrize(
    ("event", "fields", "expected"),
    [
        (
            "start",
            {"content_state": STATE, "attributes_type": "MatchAttributes", "attributes": {"home": "A"},
             "alert": ALERT},
            {"aps": {"timestamp": TS, "event": "start", "content-state": STATE,
                     "attributes-type": "MatchAttributes", "attributes": {"home": "A"}, "alert": ALERT}},
        ),
        (
            "update",
            {"content_state": STATE},
            {"aps": {"timestamp": TS, "event": "update", "content-state": STATE}},
        ),
        (
            "update",
            {"content_state": STATE, "alert": ALERT, "stale_date": STALE},
            {"aps": {"timestamp": TS, "event": "update", "content-state": STATE, "alert": ALERT,
                     "stale-date": int(STALE.timestamp())}},
        ),
        ("end", {}, {"aps": {"timestamp": TS, "event": "end"}}),
        (
            "end",
            {"content_state": STATE, "dismissal_date": STALE},
            {"aps": {"timestamp": TS, "event": "end", "content-state": STATE,
                     "dismissal-date": int(STALE.timestamp())}},
        ),
        # a start's attributes belong to the start only; a dismissal date to the end only
        (
            "update",
            {"content_state": STATE, "attributes_type": "X", "attributes": {"a": 1}, "dismissal_date": STALE},
            {"aps": {"timestamp": TS, "event": "update", "content-state": STATE}},
        ),
    ],
)  # fmt: skip
def test_payload(event: live_activity.Event, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert live_activity.payload(event, AT, **fields) == expected


@pytest.mark.parametrize(
    ("event", "fields", "named"),
    [
        ("start", {"content_state": STATE, "attributes": {}, "alert": ALERT}, "attributes_type"),
        ("start", {"content_state": STATE, "attributes_type": "M", "alert": ALERT}, "attributes"),
        ("start", {"content_state": STATE, "attributes_type": "M", "attributes": {}}, "alert"),
        ("update", {}, "content_state"),
    ],
)
def test_a_payload_apns_would_take_but_the_device_would_drop_is_refused(
    event: live_activity.Event, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=f"^{named}:"):
        live_activity.payload(event, AT, **fields)


def test_topic_and_push_type() -> None:
    assert live_activity.topic("com.example.app") == "com.example.app.push-type.liveactivity"
    assert live_activity.is_live_activity({"aps": {"event": "end", "timestamp": 1}})
    assert not live_activity.is_live_activity({"aps": {"alert": {"title": "t"}}})


def errors(model: Any, body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [(e["field"], e["reason"]) for e in field_errors(caught.value, "body")]


PUSH_TO_START = "ab" * 40
IOS = {"platform": "ios", "token": "cd" * 32}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**IOS, "live_activity": {"push_to_start_token": "xyz"}}, "body.live_activity.push_to_start_token"),
        ({**IOS, "live_activity": {"push_to_start_token": "ab" * 20}}, "body.live_activity.push_to_start_token"),
        ({**IOS, "live_activity": {"push_to_start_token": "a" * 65}}, "body.live_activity.push_to_start_token"),
        ({**IOS, "live_activity": {"push_to_start_token": "ab" * 101}}, "body.live_activity.push_to_start_token"),
        ({**IOS, "live_activity": {}}, "body.live_activity.push_to_start_token"),
        ({**IOS, "live_activity": {"push_to_start_token": PUSH_TO_START, "x": 1}}, "body.live_activity.x"),
        ({"platform": "android", "token": "f" * 40, "live_activity": {"push_to_start_token": PUSH_TO_START}},
         "body.live_activity"),
    ],
)  # fmt: skip
def test_a_device_s_push_to_start_token_is_validated(body: dict[str, Any], field: str) -> None:
    assert [f for f, _ in errors(DeviceIn, body)] == [field]


def test_a_device_keeps_its_push_to_start_token() -> None:
    device = DeviceIn.model_validate({**IOS, "live_activity": {"push_to_start_token": PUSH_TO_START}})
    assert device.model_dump(exclude_none=True, mode="json")["live_activity"] == {
        "push_to_start_token": PUSH_TO_START
    }


START = {"activity_type": "MatchAttributes", "device_ids": ["d1"], "attributes": {"home": "A"},
         "content_state": STATE, "alert": ALERT}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (live_activities.ActivityStart, {**START, "activity_type": "not a type"}, "body.activity_type"),
        (live_activities.ActivityStart, {k: v for k, v in START.items() if k != "alert"}, "body.alert"),
        (live_activities.ActivityStart, {**START, "alert": {"title": "t"}}, "body.alert.body"),
        (live_activities.ActivityStart, {**START, "device_ids": []}, "body.device_ids"),
        (live_activities.ActivityStart, {**START, "device_ids": ["d"] * 1001}, "body.device_ids"),
        (live_activities.ActivityStart, {**START, "audience": {"attr": "tags.x", "op": "exists"}}, "body.audience"),
        (live_activities.ActivityStart, {k: v for k, v in START.items() if k != "device_ids"}, "body.audience"),
        (live_activities.ActivityStart, {**{k: v for k, v in START.items() if k != "device_ids"},
                                         "audience": {"attr": "tags.x", "op": "near"}}, "body.audience.op"),
        (live_activities.ActivityStart, {**START, "content_state": "1-0"}, "body.content_state"),
        (live_activities.ActivityUpdate, {}, "body.content_state"),
        (live_activities.ActivityUpdate, {"content_state": STATE, "stale_date": "2026-12-07T19:00:00"},
         "body.stale_date"),
        (live_activities.ActivityEnd, {"dismissal_date": "soon"}, "body.dismissal_date"),
        (live_activities.TokenIn, {"token": "not hex"}, "body.token"),
    ],
)  # fmt: skip
def test_bad_bodies_name_their_field(model: Any, body: dict[str, Any], field: str) -> None:
    assert field in [f for f, _ in errors(model, body)]


def test_an_audience_may_name_saved_segments() -> None:
    """Resolved as a campaign's are (pushengine.segments.referenced, then expanded when its wave fires)."""
    audience = {"any": [{"segment": "seg_1"}, {"not": {"segment": "seg_2"}}]}
    body = {**{k: v for k, v in START.items() if k != "device_ids"}, "audience": audience}
    assert live_activities.ActivityStart.model_validate(body).audience == audience


@pytest.mark.parametrize(
    ("body", "fields", "field"),
    [
        (live_activity.payload("update", AT, content_state={"log": "x" * 4100}), ("content_state", "alert"),
         "body.content_state"),
        (live_activity.payload("start", AT, content_state={}, attributes_type="M", attributes={"a": "x" * 4100},
                               alert=ALERT), ("attributes", "content_state", "alert"), "body.attributes"),
    ],
)  # fmt: skip
def test_a_body_over_4096_bytes_is_a_400_naming_its_largest_field(
    body: dict[str, Any], fields: tuple[str, ...], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        live_activities.checked(body, fields)
    assert caught.value.field == field and "4096" in caught.value.reason


def test_a_body_of_4096_bytes_passes() -> None:
    body = live_activity.payload("update", AT, content_state={"log": ""})
    from pushengine.payloads.base import payload_size

    filler = 4096 - payload_size(body)
    body = live_activity.payload("update", AT, content_state={"log": "x" * filler})
    assert payload_size(body) == 4096 and live_activities.checked(body, ("content_state",)) is body


def test_a_live_activity_push_goes_on_the_liveactivity_topic_without_collapse_id() -> None:
    body = live_activity.payload("update", AT, content_state=STATE, alert=ALERT)
    notification = ActivityComposer({"payload": body, "ttl_seconds": 3600}).notification({"id": "d", "t": DEVICE})
    assert provider().headers(notification, "J") == {
        "authorization": "bearer J",
        "apns-topic": "com.example.app.push-type.liveactivity",
        "apns-push-type": "liveactivity",
        "apns-priority": "10",
        "apns-expiration": str(int(T0) + 3600),
    }
    assert notification.token == DEVICE and notification.payload == body
    alert = Notification({"aps": {"alert": {"title": "t"}}}, collapse_id="", token=DEVICE)
    assert provider().headers(alert, "J")["apns-topic"] == "com.example.app"


def test_starts_take_the_marketing_lane_and_updates_the_transactional_one() -> None:
    start = live_activity.payload("start", AT, content_state={}, attributes_type="M", attributes={}, alert=ALERT)
    assert not ActivityComposer({"payload": start}).transactional
    assert ActivityComposer({"payload": live_activity.payload("end", AT)}).transactional
    # a start's refused token is the device's push-to-start token; an update's or end's is the activity's
    assert ActivityComposer({"payload": start}).prunes
    assert not ActivityComposer({"payload": live_activity.payload("end", AT)}).prunes


START_BODY = live_activity.payload("start", AT, content_state={}, attributes_type="M", attributes={}, alert=ALERT)


@pytest.mark.parametrize(
    ("body", "priority"),
    [
        # Apple: priority 10 draws on the device's budget; an update with nothing to alert goes at 5
        (live_activity.payload("update", AT, content_state=STATE), "5"),
        (live_activity.payload("update", AT, content_state=STATE, stale_date=STALE), "5"),
        (live_activity.payload("update", AT, content_state=STATE, alert=ALERT), "10"),
        (START_BODY, "10"),
        (live_activity.payload("end", AT), "10"),
        (live_activity.payload("end", AT, content_state=STATE, dismissal_date=STALE), "10"),
    ],
)  # fmt: skip
def test_an_update_without_an_alert_goes_at_priority_5_and_the_rest_at_10(
    body: dict[str, Any], priority: str
) -> None:
    notification = ActivityComposer({"payload": body}).notification({"id": "d", "t": DEVICE})
    assert provider().headers(notification, "J")["apns-priority"] == priority
