"""Schedules in the past, skipped zones, pause and resume under each `if_passed`, and edits, on in-memory
ports with the harness's driven clock (every instant below is built from it)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from pushengine import campaigns, lifecycle
from pushengine.errors import DomainError
from pushengine.waves import local_instant
from tests.fakes import AUDIENCE, Harness

pytestmark = pytest.mark.unit

APP = "app_l"
START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # Tokyo's 09:00 (00:00Z) and Paris's (07:00Z) ahead


def body(schedule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "c", "message": {"title": "t", "body": "b"}, "quiet_hours": "ignore", "schedule": schedule,
            **extra}  # fmt: skip


def local(day: Any, wall: str = "09:00", **extra: Any) -> dict[str, Any]:
    return {"type": "local_time", "date": day.isoformat(), "time": wall, **extra}


def refused(h: Harness, schedule: dict[str, Any]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        h.create_campaign(APP, body(schedule))
    return caught.value


def by_prefix(h: Harness) -> Counter[str]:
    return Counter(h.provider.target(n).rsplit("/", 1)[1][0] for n in h.provider.sent)


@pytest.mark.parametrize("hours_later", [0, 13, 23])  # wherever in the day the clock stands
def test_a_schedule_wholly_in_the_past_is_a_400_naming_schedule_and_stores_nothing(hours_later: int) -> None:
    h = Harness(now=START + timedelta(hours=hours_later, minutes=30))
    h.web_devices(APP, 2)
    long_ago = h.now.date() - timedelta(days=3)
    for schedule in (
        local(long_ago),  # skip: passed in every zone of the world
        local(long_ago, if_passed="next_day"),  # the next day has passed everywhere too
        {"type": "at", "at": (h.now - timedelta(hours=2)).isoformat()},
    ):
        error = refused(h, schedule)
        assert (error.status, error.field) == (400, "body.schedule"), schedule
    assert not h.campaigns.definitions and not h.scheduler.schedules and not h.queue.bodies(AUDIENCE)
    # still accepted: send_now sends what has passed, an `at` a few seconds old (a client's clock) goes now
    h.create_campaign(APP, body(local(long_ago, if_passed="send_now")))
    h.create_campaign(APP, body({"type": "at", "at": (h.now - timedelta(seconds=10)).isoformat()}))
    assert len(h.campaigns.definitions) == 2


def test_skipped_time_zones_are_the_apps_own_with_their_device_counts() -> None:
    day = START.date()
    h = Harness(now=local_instant(day, time(9), "Europe/Paris") + timedelta(minutes=5))
    h.web_devices(APP, 3, zone="Europe/Paris", prefix="p")
    h.web_devices(APP, 2, zone="America/New_York", prefix="n")
    campaign_id = h.create_campaign(APP, body(local(day)))
    out = campaigns.get_campaign(h.campaign_deps(), APP, campaign_id)
    assert [z.model_dump() for z in out.skipped_time_zones] == [{"time_zone": "Europe/Paris", "devices": 3}]
    assert {z for w in out.waves for z in w.time_zones} == {"America/New_York"}


def paused_through_tokyo(if_passed: str) -> tuple[Harness, str]:
    """A campaign at 09:00 local for devices in Tokyo (t) and Paris (p), paused from before Tokyo's 09:00
    until after it; Paris's 09:00 is still ahead at resume."""
    h = Harness(now=START - timedelta(hours=1))
    h.web_devices(APP, 2, zone="Asia/Tokyo", prefix="t")
    h.web_devices(APP, 3, zone="Europe/Paris", prefix="p")
    campaign_id = h.create_campaign(APP, body(local(START.date(), if_passed=if_passed)))
    lifecycle.pause(h.campaign_deps(), APP, campaign_id)
    h.now = local_instant(START.date(), time(9), "Asia/Tokyo") + timedelta(hours=1)
    h.drain()  # Tokyo's wave fires while paused: held
    assert not h.provider.sent
    lifecycle.resume(h.campaign_deps(), APP, campaign_id, now=h.now)
    return h, campaign_id


def test_resume_under_skip_skips_the_zones_whose_wave_fell_in_the_pause_and_reports_them() -> None:
    h, campaign_id = paused_through_tokyo("skip")
    h.drain()
    assert not h.provider.sent
    out = campaigns.get_campaign(h.campaign_deps(), APP, campaign_id)
    assert [z.model_dump() for z in out.skipped_time_zones] == [{"time_zone": "Asia/Tokyo", "devices": 2}]
    h.now = local_instant(START.date(), time(9), "Europe/Paris") + timedelta(seconds=1)
    h.drain()
    assert by_prefix(h) == {"p": 3}
    h.advance(days=2)
    h.drain()
    assert by_prefix(h) == {"p": 3} and h.campaigns.status(APP, campaign_id) == "completed"


def test_resume_under_send_now_sends_the_missed_zones_at_once() -> None:
    h, campaign_id = paused_through_tokyo("send_now")
    h.drain()
    assert by_prefix(h) == {"t": 2}
    assert campaigns.get_campaign(h.campaign_deps(), APP, campaign_id).skipped_time_zones == []


def test_resume_under_next_day_sends_the_missed_zones_the_next_day_at_their_local_time() -> None:
    h, campaign_id = paused_through_tokyo("next_day")
    h.drain()
    assert not h.provider.sent
    tokyo_tomorrow = local_instant(START.date() + timedelta(days=1), time(9), "Asia/Tokyo")
    assert tokyo_tomorrow in {at for at, _ in h.scheduler.schedules.values()}
    h.now = local_instant(START.date(), time(9), "Europe/Paris") + timedelta(seconds=1)
    h.drain()
    assert by_prefix(h) == {"p": 3}
    h.now = tokyo_tomorrow - timedelta(seconds=1)
    h.drain()
    assert by_prefix(h) == {"p": 3}
    h.now = tokyo_tomorrow + timedelta(seconds=1)
    h.drain()
    assert by_prefix(h) == {"p": 3, "t": 2}
    h.advance(days=2)
    h.drain()
    assert h.campaigns.status(APP, campaign_id) == "completed"
    assert sum(h.campaigns.totals(APP, campaign_id)["stats"].values()) > 0 and len(h.provider.sent) == 5


EXPERIMENT = {
    "variants": [{"name": "morning", "weight": 50, "message": {"title": "m", "body": "b"}, "time": "09:00"},
                 {"name": "evening", "weight": 50, "message": {"title": "e", "body": "b"}, "time": "19:00"}],
}  # fmt: skip


def test_an_edit_keeps_a_send_time_experiments_wave_per_variant_time() -> None:
    h = Harness(now=START - timedelta(hours=1))
    h.web_devices(APP, 4, zone="Europe/Paris")
    campaign_id = h.create_campaign(APP, body(local(START.date()), **EXPERIMENT))
    before = campaigns.get_campaign(h.campaign_deps(), APP, campaign_id).waves
    out = lifecycle.edit(h.campaign_deps(), APP, campaign_id, {"name": "renamed"}, now=h.now)
    assert out.name == "renamed"
    assert [(w.send_at, w.time_zones, w.variants) for w in out.waves] == [
        (w.send_at, w.time_zones, w.variants) for w in before
    ]
    paris = {w.send_at: w.variants for w in out.waves}
    assert paris == {local_instant(START.date(), time(9), "Europe/Paris"): ["morning", "holdout"],
                     local_instant(START.date(), time(19), "Europe/Paris"): ["evening"]}  # fmt: skip
    h.advance(days=2)
    h.drain()
    assert len(h.provider.sent) == 4 and h.campaigns.status(APP, campaign_id) == "completed"


def test_an_edit_to_a_schedule_wholly_in_the_past_is_refused_and_changes_nothing() -> None:
    h = Harness(now=START - timedelta(hours=1))
    campaign_id = h.create_campaign(APP, body(local(START.date())))
    schedules = dict(h.scheduler.schedules)
    with pytest.raises(DomainError) as caught:
        lifecycle.edit(h.campaign_deps(), APP, campaign_id,
                       {"schedule": local(START.date() - timedelta(days=3))}, now=h.now)  # fmt: skip
    assert (caught.value.status, caught.value.field) == (400, "body.schedule")
    assert h.scheduler.schedules == schedules
