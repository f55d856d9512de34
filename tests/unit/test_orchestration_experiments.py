"""An experiment's run on fakes with a driven clock: the `revenue` metric, a decision fired twice, a
cancelled or edited campaign's decision, and a decision while the campaign is paused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from pushengine import lifecycle, rollout
from pushengine.campaigns import cancel_campaign, get_campaign
from pushengine.events import EventDeps, record_event
from pushengine.models import CampaignIn, EventIn, LocalTimeSchedule
from pushengine.targeting import REST, assign
from tests.fakes import Harness

pytestmark = pytest.mark.unit

APP = "app_x"
VARIANTS = [{"name": "a", "message": {"title": "A", "body": "a"}}, {"name": "b", "message": {"title": "B", "body": "b"}}]


def start(h: Harness, n: int = 120, **experiment: Any) -> tuple[str, list[str]]:
    ids = h.web_devices(APP, n)
    body = {"name": "x", "message": {"title": "Base", "body": "b"}, "quiet_hours": "ignore", "variants": VARIANTS,
            "experiment": {"test_percent": 50, "decide_after": "PT1H", **experiment}}  # fmt: skip
    campaign_id = h.create_campaign(APP, body)
    h.drain()
    return campaign_id, ids


def titles(h: Harness) -> dict[str, str]:
    return {h.provider.target(n).rsplit("/", 1)[1]: n.payload["title"] for n in h.provider.sent}


def decision(h: Harness, campaign_id: str) -> dict[str, Any]:
    found = get_campaign(h.campaign_deps(), APP, campaign_id).experiment
    assert found is not None
    return found.model_dump(mode="json")


def test_revenue_counts_the_devices_whose_conversion_carried_revenue() -> None:
    h = Harness()
    campaign_id, ids = start(h, metric="revenue")
    spec = h.campaigns.definition(APP, campaign_id)["spec"]  # type: ignore[index]
    events = EventDeps(campaigns=h.campaigns, devices=h.devices)
    for device_id, title in titles(h).items():
        if title == "B":  # b's recipients buy, twice; a's convert without revenue
            for value in (5.0, 7.0):
                record_event(events, APP, EventIn.model_validate(
                    {"device_id": device_id, "name": "purchase", "campaign_id": campaign_id, "value": value}))  # fmt: skip
        else:
            record_event(events, APP, EventIn.model_validate(
                {"device_id": device_id, "name": "purchase", "campaign_id": campaign_id}))  # fmt: skip
    vstats = h.campaigns.totals(APP, campaign_id)["vstats"]
    b_sent = sum(1 for t in titles(h).values() if t == "B")
    assert vstats["b"]["paying"] == b_sent and "paying" not in vstats["a"]  # once per device
    assert vstats["a"]["converted"] > 0
    h.advance(hours=1, seconds=1)
    h.drain()
    found = decision(h, campaign_id)
    assert (found["winner"], found["conclusive"], found["metric"]) == ("b", True, "revenue")
    rest = [d for d in ids if assign(spec, campaign_id, d) == REST]
    assert rest and {titles(h)[d] for d in rest} == {"B"} and len(titles(h)) == len(h.provider.sent) == len(ids)
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_a_decision_fired_twice_decides_once_and_sends_the_rest_once() -> None:
    h = Harness()
    campaign_id, ids = start(h)
    first = len(h.provider.sent)
    deps = h.segment_deps()
    h.advance(hours=1, seconds=1)
    args = (h.campaigns, h.scheduler, h.queue, h.settings.audience_queue_url, h.settings.max_message_bytes, APP,
            campaign_id)  # fmt: skip
    assert rollout.decide(*args, deps.clock())
    assert not rollout.decide(*args, deps.clock())  # a second firing, before the rest has even gone
    h.drain()
    assert not rollout.decide(*args, deps.clock())  # and after
    h.drain()
    assert len(h.provider.sent) == len(ids) > first  # each device once
    found = decision(h, campaign_id)
    assert found["status"] == "decided" and found["winner"] == "a" and "too few" in found["reason"]
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["waves_pending"] == 0 and totals["status"] == "completed"


def test_cancelling_deletes_the_pending_decision() -> None:
    h = Harness()
    campaign_id, _ = start(h)
    record = h.campaigns.definition(APP, campaign_id)["experiment"]  # type: ignore[index]
    assert h.scheduler.exists(record["schedule"])
    cancel_campaign(h.campaign_deps(), APP, campaign_id)
    assert not h.scheduler.exists(record["schedule"])
    sent = len(h.provider.sent)
    h.advance(hours=2)
    h.drain()
    # fired anyway (a schedule deleted too late): a cancelled campaign decides nothing, sends nothing
    rollout.decide(h.campaigns, h.scheduler, h.queue, h.settings.audience_queue_url, h.settings.max_message_bytes,
                   APP, campaign_id, h.now)  # fmt: skip
    h.drain()
    assert len(h.provider.sent) == sent and decision(h, campaign_id)["status"] == "testing"


def test_an_edit_plans_the_decision_after_the_new_waves() -> None:
    h = Harness()
    h.web_devices(APP, 10)
    at = h.now + timedelta(days=1)
    body = {"name": "x", "message": {"title": "Base", "body": "b"}, "variants": VARIANTS,
            "schedule": {"type": "at", "at": at.isoformat()},
            "experiment": {"test_percent": 50, "decide_after": "PT3H"}}  # fmt: skip
    campaign_id = h.create_campaign(APP, body)
    assert decision(h, campaign_id)["decide_at"] == (at + timedelta(hours=3)).isoformat()
    later = at + timedelta(days=1)
    lifecycle.edit(h.campaign_deps(), APP, campaign_id, {"schedule": {"type": "at", "at": later.isoformat()}},
                   now=h.now)  # fmt: skip
    decide_at = datetime.fromisoformat(decision(h, campaign_id)["decide_at"])
    assert decide_at == later + timedelta(hours=3)
    assert [at for at, p in h.scheduler.schedules.values() if p["kind"] == rollout.DECIDE] == [decide_at]
    assert h.campaigns.totals(APP, campaign_id)["waves_pending"] == 2  # the test wave and the decision


def test_a_decision_while_paused_sends_the_rest_on_resume() -> None:
    h = Harness()
    campaign_id, ids = start(h)
    first = len(h.provider.sent)
    lifecycle.pause(h.campaign_deps(), APP, campaign_id)
    h.advance(hours=1, seconds=1)
    h.drain()
    assert decision(h, campaign_id)["status"] == "decided" and len(h.provider.sent) == first  # held
    lifecycle.resume(h.campaign_deps(), APP, campaign_id, now=h.now)
    h.drain()
    assert len(h.provider.sent) == len(ids)
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_a_local_time_rest_wave_missed_while_paused_goes_the_next_day_on_resume() -> None:
    h = Harness()  # 2026-06-01 12:00Z; Paris is UTC+2
    ids = h.web_devices(APP, 40)
    body = {"name": "x", "message": {"title": "Base", "body": "b"}, "quiet_hours": "ignore", "variants": VARIANTS,
            "schedule": {"type": "local_time", "date": "2026-06-02", "time": "09:00", "if_passed": "next_day"},
            "experiment": {"test_percent": 50, "decide_after": "PT1H"}}  # fmt: skip
    campaign_id = h.create_campaign(APP, body)
    paris = datetime.fromisoformat("2026-06-02T07:00:00+00:00")
    h.now = paris + timedelta(seconds=1)
    h.drain()
    tested = len(h.provider.sent)
    assert 0 < tested < len(ids)
    h.now = datetime.fromisoformat(decision(h, campaign_id)["decide_at"]) + timedelta(seconds=1)
    h.drain()
    assert decision(h, campaign_id)["status"] == "decided"
    lifecycle.pause(h.campaign_deps(), APP, campaign_id)
    h.now = paris + timedelta(days=1, hours=1)  # the rest's 09:00 in Paris passes while paused
    h.drain()
    lifecycle.resume(h.campaign_deps(), APP, campaign_id, now=h.now)
    h.drain()
    assert len(h.provider.sent) == tested  # not now: at 09:00 the next day (if_passed: next_day)
    h.now = paris + timedelta(days=2, seconds=1)
    h.drain()
    assert len(h.provider.sent) == len(ids)
    assert h.provider.sent_at[-1] == (paris + timedelta(days=2, seconds=1)).timestamp()


def test_a_missed_rest_wave_keeps_each_zones_own_day() -> None:
    # Kiritimati (UTC+14) on 03-03 and Honolulu (UTC-10) on 03-02 reach 09:00 at the same instant: one rest
    # wave; missed while paused, under next_day each goes at 09:00 on its own next day (one wave again)
    local = {"type": "local_time", "date": "2027-03-01", "time": "09:00", "if_passed": "next_day"}
    schedule = CampaignIn.model_validate({"name": "x", "message": {"title": "t", "body": "b"}, "schedule": local}).schedule
    wave = {"wave_id": "w20270302T190000Z-rest", "send_at": "2027-03-02T19:00:00+00:00",
            "zones": ["Pacific/Honolulu", "Pacific/Kiritimati"], "variants": [REST]}  # fmt: skip
    assert isinstance(schedule, LocalTimeSchedule)
    groups, skipped = lifecycle._placed(wave, schedule, datetime.fromisoformat("2027-03-02T20:00:00+00:00"))
    assert groups == [(datetime.fromisoformat("2027-03-03T19:00:00+00:00"), ["Pacific/Honolulu", "Pacific/Kiritimati"])]
    assert skipped == []


def test_the_holdout_stays_out_of_the_test_and_of_the_rest() -> None:
    h = Harness()
    ids = h.web_devices(APP, 200)
    body = {"name": "x", "message": {"title": "Base", "body": "b"}, "quiet_hours": "ignore", "variants": VARIANTS,
            "holdout_percent": 10, "experiment": {"test_percent": 30, "decide_after": "PT1H"}}  # fmt: skip
    campaign_id = h.create_campaign(APP, body)
    h.drain()
    h.advance(hours=1, seconds=1)
    h.drain()
    spec = h.campaigns.definition(APP, campaign_id)["spec"]  # type: ignore[index]
    groups = {d: assign(spec, campaign_id, d) for d in ids}
    held = {d for d, g in groups.items() if g == "holdout"}
    assert held and {g for g in groups.values()} == {"a", "b", "holdout", REST}
    assert set(titles(h)) == set(ids) - held and len(h.provider.sent) == len(ids) - len(held)
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["suppressed_holdout"] == len(held)  # counted once, by the test wave
    assert totals["vstats"][REST]["targeted"] == sum(1 for g in groups.values() if g == REST)
