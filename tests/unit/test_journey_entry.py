"""Scheduled journey entries on fakes: a one-off audience (or a segment's occurrence) enters through the
segment query's bounded pages and the same enrol path as an entry event; each occurrence enrols a device
once, under redelivery, with the re-entry rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from pushengine.delivery import audience_queue
from pushengine.errors import InvalidInput
from pushengine.journeys import engine, entry, service
from pushengine.journeys.model import JourneyIn
from tests.fakes import AUDIENCE, Harness
from tests.fakes_journeys import FakeJourneyStore

APP = "app1"


@dataclass
class JourneyHarness(Harness):
    journeys: FakeJourneyStore = field(default_factory=FakeJourneyStore)

    def segment_deps(self) -> Any:
        deps = super().segment_deps()
        deps.journeys = self.journeys
        return deps

    def api(self) -> service.JourneyApiDeps:
        return service.JourneyApiDeps(store=self.journeys, campaigns=self.campaigns, queue=self.queue,
                                      audience_queue_url=AUDIENCE, resolve_template=lambda app, t: {},
                                      campaign_deps=self.campaign_deps())  # fmt: skip

    def create(self, body: dict[str, Any]) -> str:
        return service.create(self.api(), APP, JourneyIn.model_validate(body), now=self.now).journey_id

    def stats(self, journey_id: str) -> dict[str, Any]:
        return service.get(self.api(), APP, journey_id).stats

    def enrol(self, message: dict[str, Any]) -> None:
        audience_queue.handle(self.segment_deps(), message, lambda: 60_000)


def welcome(schedule_entry: dict[str, Any], reentry: Any = "after_exit") -> dict[str, Any]:
    return {"name": "Welcome", "quiet_hours": "ignore", "entry": schedule_entry, "reentry": reentry,
            "first": "hello", "steps": {"hello": {"type": "send", "message": {"title": "Hi", "body": "welcome"},
                                                  "next": "done"},
                                        "done": {"type": "exit"}}}  # fmt: skip


@pytest.fixture
def h() -> JourneyHarness:
    h = JourneyHarness()
    h.web_devices(APP, 45, prefix="pro", tags={"plan": "pro"})
    h.web_devices(APP, 10, prefix="free", tags={"plan": "free"})
    return h


def pro_at(h: JourneyHarness, hours: int = 1) -> dict[str, Any]:
    return {"audience": {"attr": "tags.plan", "op": "eq", "value": "pro"},
            "schedule": {"type": "at", "at": (h.now + timedelta(hours=hours)).isoformat()}}  # fmt: skip


def test_a_one_off_audience_enters_once_at_its_time_through_the_segment_query(h: JourneyHarness) -> None:
    jid = h.create(welcome(pro_at(h)))
    h.drain()
    assert h.stats(jid)["entered"] == 0 and h.provider.sent == []  # its wave waits for its instant
    h.advance(hours=1)
    h.drain()
    stats = h.stats(jid)
    assert (stats["entered"], stats["completed"], stats["steps"]["hello"]["sent"]) == (45, 45, 45)
    assert sorted(h.provider.target(n).rsplit("/", 1)[1] for n in h.provider.sent) == [
        f"pro{i:04d}" for i in range(45)
    ]
    # 45 devices over pages of 20 and tasks of 2 pages: several tasks, each enrolling its own pages
    enrolled = [b for _, _, b in h.receipts if b.get("kind") == "journey_enrol"]
    assert len(enrolled) >= 2 and sum(len(b["device_ids"]) for b in enrolled) == 45
    made = h.campaigns.get(APP, entry.campaign_id(jid, 1))
    assert made is not None and made["status"] == "completed" and made["stats"]["targeted"] == 45
    assert made["stats"]["sent"] == 0  # the entry campaign itself sends nothing
    h.advance(days=2)
    h.drain()
    assert h.stats(jid)["entered"] == 45  # once: a one-off


def test_a_redelivered_page_enrols_nobody_twice_even_after_they_exited(h: JourneyHarness) -> None:
    jid = h.create(welcome(pro_at(h)))
    page = {"kind": "journey_enrol", "app_id": APP, "journey_id": jid, "device_ids": ["pro0000", "pro0001"],
            "at": h.now.isoformat(), "entry_key": f"{entry.campaign_id(jid, 1)}#w1"}  # fmt: skip
    h.enrol(page)
    h.enrol(page)  # redelivered after both completed: after_exit would let them in again
    stats = h.stats(jid)
    assert (stats["entered"], stats["completed"], stats["steps"]["hello"]["sent"]) == (2, 2, 2)


@pytest.mark.parametrize(("reentry", "entered"), [("after_exit", 2), ("never", 1)])
def test_each_occurrence_enrols_again_as_the_reentry_rule_allows(h: JourneyHarness, reentry: str,
                                                                 entered: int) -> None:  # fmt: skip
    jid = h.create(welcome(pro_at(h), reentry=reentry))
    for run in ("2026-06-02", "2026-06-03"):
        h.enrol({"kind": "journey_enrol", "app_id": APP, "journey_id": jid, "device_ids": ["pro0000"],
                 "at": h.now.isoformat(), "entry_key": f"{entry.campaign_id(jid, 1)}#{run}"})  # fmt: skip
    assert h.stats(jid)["entered"] == entered


def test_a_page_the_invocation_has_no_time_for_goes_back_on_the_queue(h: JourneyHarness) -> None:
    jid = h.create(welcome(pro_at(h)))
    deps = engine.from_segment_deps(h.segment_deps())
    left = iter([60_000, 60_000, 1_000])
    page = {"kind": "journey_enrol", "app_id": APP, "journey_id": jid, "at": h.now.isoformat(),
            "device_ids": ["pro0000", "pro0001", "pro0002", "pro0003"], "entry_key": "k"}  # fmt: skip
    assert engine.enrol_page(deps, page, lambda: next(left)) == {"moved": 2}
    (rest,) = [m.body for m in h.queue.queues[AUDIENCE] if m.body.get("kind") == "journey_enrol"]
    assert rest["device_ids"] == ["pro0002", "pro0003"] and rest["entry_key"] == "k"


def test_pausing_the_journey_holds_its_entry_and_stop_cancels_it(h: JourneyHarness) -> None:
    jid = h.create(welcome(pro_at(h)))
    service.set_status(h.api(), APP, jid, "pause")
    made = h.campaigns.get(APP, entry.campaign_id(jid, 1))
    assert made is not None and made["status"] == "paused"
    h.advance(hours=1)
    h.drain()  # the wave fires while paused: held, nobody enters
    assert h.stats(jid)["entered"] == 0
    service.set_status(h.api(), APP, jid, "resume")
    h.drain()
    assert h.stats(jid)["entered"] == 45
    later = h.create(welcome(pro_at(h, hours=5)))
    service.set_status(h.api(), APP, later, "stop")
    made = h.campaigns.get(APP, entry.campaign_id(later, 1))
    assert made is not None and made["status"] == "cancelled"


def test_a_past_schedule_or_a_missing_segment_is_a_400_naming_the_entry_field(h: JourneyHarness) -> None:
    with pytest.raises(InvalidInput) as caught:
        h.create(welcome(pro_at(h, hours=-3)))
    assert caught.value.field == "body.entry.schedule"
    daily = {"type": "recurring", "frequency": "daily", "time": "09:00", "start": "2026-06-02"}
    with pytest.raises(InvalidInput) as caught:
        h.create(welcome({"segment": "seg_gone", "schedule": daily}))
    assert caught.value.field == "body.entry.segment"
    assert h.journeys.journeys(APP) == []  # nothing written


def test_a_new_version_keeps_an_unchanged_entry_and_replaces_a_changed_one(h: JourneyHarness) -> None:
    body = welcome(pro_at(h, hours=2))
    jid = h.create(body)
    renamed = {**body, "steps": {**body["steps"], "hello": {**body["steps"]["hello"],
                                                            "message": {"title": "Hey", "body": "welcome"}}}}  # fmt: skip
    service.replace(h.api(), APP, jid, JourneyIn.model_validate(renamed), now=h.now)
    journey = h.journeys.journey(APP, jid)
    assert journey is not None and journey["entry_campaign"] == entry.campaign_id(jid, 1)
    service.replace(h.api(), APP, jid, JourneyIn.model_validate({**renamed, "entry": pro_at(h, hours=4)}),
                    now=h.now)  # fmt: skip
    journey = h.journeys.journey(APP, jid)
    assert journey is not None and journey["entry_campaign"] == entry.campaign_id(jid, 3)
    old, new = (h.campaigns.get(APP, entry.campaign_id(jid, v)) for v in (1, 3))
    assert old is not None and old["status"] == "cancelled" and new is not None and new["status"] == "scheduled"
    h.advance(hours=4)
    h.drain()
    assert h.stats(jid)["entered"] == 45  # once, at the new entry's time
