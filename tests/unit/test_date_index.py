"""Declaring a date attribute indexes the devices that already hold it: a job on the jobs queue that reads a
bounded number of partition pages per step and continues itself; anniversary campaigns on the attribute plan
nothing until it completes (fakes through the same ports as the adapters)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from pushengine import anniversaries, automation
from pushengine.config import Settings
from pushengine.delivery.segment import SegmentDeps
from pushengine.errors import Conflict
from tests.fakes import FakeCampaigns, FakeDevices, FakeQueue, FakeScheduler, spec_of

pytestmark = pytest.mark.unit

SETTINGS = Settings(jobs_queue_url="jobs", audience_queue_url="audience")
APP = "app_1"
# a fixed instant: the subject is which days are planned relative to it, not when the test runs
NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


class FakeApps:
    """`AppsRepository.declare_date_attribute` and `get`: the settings map on the app item."""

    def __init__(self, declared: list[str] | None = None) -> None:
        self.item: dict[str, Any] = {"app_id": APP, "settings": {"date_attributes": list(declared or [])}}

    def get(self, app_id: str) -> dict[str, Any] | None:
        return self.item if app_id == APP else None

    def declare_date_attribute(self, app_id: str, name: str, limit: int) -> bool:
        names = self.item["settings"]["date_attributes"]
        if name in names:
            return False
        if len(names) >= limit:
            raise Conflict("full", field="body.schedule.attribute")
        names.append(name)
        return True


class FakeAutomation:
    """The automation table's index, index-job and planned-wave items."""

    def __init__(self) -> None:
        self.index: set[tuple[str, str, str, str]] = set()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.planned_waves: dict[str, set[str]] = defaultdict(set)

    def index_celebrant(self, app_id: str, name: str, md: str, zone: str, device_id: str) -> None:
        self.index.add((name, md, zone, device_id))

    def celebrants(self, app_id: str, name: str, md: str, zone: str | None = None) -> list[dict[str, Any]]:
        return [{"zone": z, "device_id": d} for (n, m, z, d) in sorted(self.index)
                if n == name and m == md and zone in (None, z)]  # fmt: skip

    def start_indexing(self, app_id: str, attribute: str, job_id: str) -> None:
        self.jobs[attribute] = {"job_id": job_id, "status": "running"}

    def finish_indexing(self, app_id: str, attribute: str, job_id: str) -> None:
        if self.jobs[attribute]["job_id"] == job_id:
            self.jobs[attribute]["status"] = "completed"

    def indexing(self, app_id: str, attribute: str) -> dict[str, Any] | None:
        return self.jobs.get(attribute)

    def planned(self, app_id: str, campaign_id: str) -> list[dict[str, Any]]:
        return [{"sk": sk} for sk in sorted(self.planned_waves[campaign_id])]

    def mark_planned(self, app_id: str, campaign_id: str, run: str, wave_id: str) -> bool:
        new = f"{run}#{wave_id}" not in self.planned_waves[campaign_id]
        self.planned_waves[campaign_id].add(f"{run}#{wave_id}")
        return new


class FakeJobs:
    """`JobsRepository`: a progress item per job, each step counted once (its ledger)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.steps: set[str] = set()

    def create(self, kind: str, app_id: str, job_id: str, fields: dict[str, Any]) -> None:
        self.items[job_id] = {"status": "running", **fields}

    def get(self, kind: str, app_id: str, job_id: str) -> dict[str, Any] | None:
        return dict(self.items[job_id]) if job_id in self.items else None

    def step(self, kind: str, app_id: str, job_id: str, step: str, *, add: dict[str, int],
             errors: Any = None, done: dict[str, Any] | None = None) -> bool:  # fmt: skip
        if f"{job_id}#{step}" in self.steps:
            return False
        self.steps.add(f"{job_id}#{step}")
        for name, n in add.items():
            self.items[job_id][name] = self.items[job_id].get(name, 0) + n
        self.items[job_id].update(done or {})
        return True


def _devices() -> tuple[FakeDevices, set[tuple[str, str, str, str]]]:
    """23 devices registered before any declaration: 18 with a birthday, 3 with none, 2 with text."""
    devices, expected = FakeDevices(), set()
    for i in range(23):
        zone = ("Asia/Tokyo", "America/Lima", "Pacific/Chatham")[i % 3]
        born = f"19{70 + i}-01-{11 + i // 3 % 3:02d}" if i < 18 else ("soon" if i < 20 else None)
        devices.register(APP, f"d{i:02d}", platform="android", timezone=zone,
                         attributes={"birthday": born} if born else {})  # fmt: skip
        if i < 18:
            expected.add(("birthday", born[5:], zone, f"d{i:02d}"))  # type: ignore[index]
    return devices, expected


def _index_deps(devices: FakeDevices) -> tuple[anniversaries.IndexDeps, FakeQueue]:
    queue = FakeQueue()
    deps = anniversaries.IndexDeps(settings=SETTINGS, devices=devices, automation=FakeAutomation(),  # type: ignore[arg-type]
                                   jobs=FakeJobs(), queue=queue)  # type: ignore[arg-type]  # fmt: skip
    return deps, queue


def _run_job(deps: anniversaries.IndexDeps, queue: FakeQueue, page: int, pages: int) -> list[int]:
    """Every step the job queues, run in turn (a redelivery of each too): the pages read per step."""
    per_step = []
    while bodies := queue.bodies("jobs"):
        queue.queues["jobs"].clear()
        (step,) = bodies
        before = deps.devices.pages_read  # type: ignore[attr-defined]
        anniversaries.run_index(deps, step, lambda: 100_000, page=page, pages=pages)
        per_step.append(deps.devices.pages_read - before)  # type: ignore[attr-defined]
        queue.queues["jobs"].clear()
        anniversaries.run_index(deps, step, lambda: 100_000, page=page, pages=pages)  # SQS redelivers
    return per_step


def test_an_undeclared_attribute_is_declared_and_its_devices_indexed_by_a_job_that_continues_itself() -> None:
    devices, expected = _devices()
    deps, queue = _index_deps(devices)
    apps = FakeApps(["anniversary"])
    job_id = anniversaries.declare(deps, apps, APP, "attributes.birthday")  # type: ignore[arg-type]
    assert job_id is not None and apps.item["settings"]["date_attributes"] == ["anniversary", "birthday"]
    assert [m.delay for m in queue.queues["jobs"]] == [31]  # the apps cache (30 s by default) and a second
    assert not anniversaries.indexed(deps.automation, APP, "attributes.birthday")
    assert deps.automation.index == set()  # type: ignore[attr-defined]

    per_step = _run_job(deps, queue, page=3, pages=2)
    assert len(per_step) > 3 and max(per_step) <= 2  # bounded per invocation, continued by itself
    assert deps.automation.index == expected  # type: ignore[attr-defined]
    assert deps.jobs.get(anniversaries.JOB, APP, job_id) == {
        "status": "completed", "attribute": "birthday", "read": 23, "indexed": 18}  # fmt: skip
    assert anniversaries.indexed(deps.automation, APP, "attributes.birthday")
    assert {"kind": "plan"} in queue.bodies("audience")  # the campaigns that waited plan at once
    # declared already: no second job
    assert anniversaries.declare(deps, apps, APP, "attributes.birthday") is None  # type: ignore[arg-type]
    assert queue.bodies("jobs") == []


def test_an_anniversary_campaign_plans_nothing_until_its_index_job_completes() -> None:
    devices, _ = _devices()
    deps, queue = _index_deps(devices)
    scheduler = FakeScheduler()
    planner = SegmentDeps(settings=SETTINGS, campaigns=FakeCampaigns(), devices=devices, scheduler=scheduler,
                          automation=deps.automation, queue=queue)  # type: ignore[arg-type]  # fmt: skip
    spec = spec_of(schedule={"type": "anniversary", "attribute": "attributes.birthday", "time": "09:00",
                             "start": date(2030, 1, 10).isoformat()})  # fmt: skip
    anniversaries.declare(deps, FakeApps(), APP, "attributes.birthday")  # type: ignore[arg-type]
    with time_machine.travel(NOW, tick=False):
        assert automation.plan_campaign(planner, APP, "cmp_1", spec, NOW) == 0
        assert scheduler.schedules == {}
        _run_job(deps, queue, page=10, pages=1)
        planned = automation.plan_campaign(planner, APP, "cmp_1", spec, NOW)
    # 11, 12 and 13 January in three zones, each at 09:00 local
    assert planned == 9 and len(scheduler.schedules) == 9
    assert {p["run"] for _, p in scheduler.schedules.values()} == {"2030-01-11", "2030-01-12", "2030-01-13"}
    assert all(at - NOW < timedelta(days=4) for at, _ in scheduler.schedules.values())
