"""The attribution window's re-evaluation: which campaigns a conversion posted without `campaign_id`
counts for, for one-off campaigns (their fired waves) and recurring ones (the run that reached the device)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pushengine.attribution import Exposure, exposures
from pushengine.dal.campaigns import parsed

pytestmark = pytest.mark.unit

DEVICE = {"device_id": "d1", "timezone": "Europe/Paris", "created_at": "2026-11-01T00:00:00Z"}
MESSAGE = {"title": "t", "body": "b"}


def recurring(run_ids: list[str], **schedule: Any) -> dict[str, Any]:
    spec = {"message": MESSAGE, "schedule": {"type": "recurring", "frequency": "daily", "time": "09:00",
                                             "start": "2026-11-20", **schedule}}  # fmt: skip
    return parsed({"campaign_id": "rec", "spec": spec, "run_ids": run_ids})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_recurring_campaigns_fired_run_reaches_the_device_at_its_local_send_time() -> None:
    found = exposures(DEVICE, [recurring(["2026-11-30", "2026-12-01"])], at("2026-12-01T12:00:00"), 7)
    # 09:00 in Paris on 1 December is 08:00 UTC: that run, not the day before's
    assert found == [Exposure("rec", "default", at("2026-12-01T08:00:00"), "2026-12-01")]


@pytest.mark.parametrize(
    ("campaign", "when", "device"),
    [
        (recurring(["2026-11-30"]), "2026-12-01T12:00:00", DEVICE),  # the reaching run never fired
        (recurring(["2026-12-01"]), "2026-12-01T07:30:00", DEVICE),  # before its send time in Paris
        (recurring(["2026-12-01"]), "2026-12-09T12:00:00", DEVICE),  # a week after its last fired run
        (recurring(["2026-12-01"]), "2026-12-01T12:00:00", {**DEVICE, "created_at": "2026-12-01T10:00:00Z"}),
        (recurring(["2026-12-01"], end="2026-11-25"), "2026-12-01T12:00:00", DEVICE),  # ended before
    ],
)
def test_no_exposure_without_a_fired_run_in_the_window(
    campaign: dict[str, Any], when: str, device: dict[str, Any]
) -> None:
    assert exposures(device, [campaign], at(when), 7) == []


def test_a_one_off_campaign_still_counts_by_its_fired_waves() -> None:
    campaign = parsed({"campaign_id": "one", "spec": {"message": MESSAGE, "schedule": {"type": "now"}},
                       "waves": [{"wave_id": "w1", "send_at": "2026-12-01T08:00:00Z"}], "fired_waves": ["w1"]})  # fmt: skip
    assert exposures(DEVICE, [campaign], at("2026-12-02T00:00:00"), 7) == [
        Exposure("one", "default", at("2026-12-01T08:00:00"))
    ]
