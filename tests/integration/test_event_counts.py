"""A conversion whose stats write fails is not lost: the once-per-device claim and the count are one
transaction, so the event counts when it is posted again; a recurring campaign's events count per run
(against moto, tables from template.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from pushengine import events
from pushengine.dal import aws
from pushengine.dal.campaigns import CampaignsRepository, zero_stats
from pushengine.dal.devices import DevicesRepository
from pushengine.models import EventIn

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def repos(names: dict[str, str]) -> tuple[CampaignsRepository, DevicesRepository]:
    campaigns = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"])
    return campaigns, DevicesRepository(names["DevicesTable"], names["ZonesTable"], 4)


def fail_transactions(times: int) -> list[int]:
    """The next `times` TransactWriteItems that update a counter are cancelled by a conflict on the progress
    item, as DynamoDB answers when another batch's transaction touches it at the same moment."""
    calls = [0]

    def answer(params: dict[str, Any], **_: Any) -> Any:
        if b'"Update"' not in params["body"]:
            return None  # only writes that touch the progress item meet the other batch
        calls[0] += 1
        if calls[0] > times:
            return None
        error = {
            "Code": "TransactionCanceledException",
            "Message": "Transaction cancelled [None, TransactionConflict]",
        }
        reasons = [
            {"Code": "None"},
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        ]
        return (type("Reply", (), {"status_code": 400, "headers": {}})(),
                {"Error": error, "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}})  # fmt: skip

    aws.client("dynamodb").meta.events.register_first("before-call.dynamodb.TransactWriteItems", answer)
    return calls


def test_conversion_whose_write_failed_counts_once_when_posted_again(repos: Any) -> None:
    campaigns, devices = repos
    devices.put("app_1", "d1", {"platform": "ios", "token": "ab" * 32, "timezone": "UTC"})
    spec = {"name": "c", "message": {"title": "t", "body": "b"}, "schedule": {"type": "now"}}
    campaigns.create({"app_id": "app_1", "campaign_id": "c1", "name": "c", "status": "sending", "spec": spec,
                      "waves": [], "waves_pending": 0, "tasks_pending": 0, "batches_pending": 0,
                      "stats": zero_stats(), "vstats": {"default": zero_stats()}, "errors": {}})  # fmt: skip
    deps = events.EventDeps(campaigns=campaigns, devices=devices)
    purchase = EventIn(device_id="d1", name="purchase", campaign_id="c1", value=15)

    calls = fail_transactions(aws.WRITE_ATTEMPTS)  # every attempt of the first post conflicts
    with pytest.raises(aws.Contended):
        events.record_event(deps, "app_1", purchase)
    assert calls[0] == aws.WRITE_ATTEMPTS
    assert events.record_event(deps, "app_1", purchase)["counted"]  # the app posts it again
    events.record_event(deps, "app_1", EventIn(device_id="d1", name="purchase", campaign_id="c1", value=10))

    stats = campaigns.progress("app_1", "c1")["stats"]  # type: ignore[index]
    assert (stats["converted"], stats["revenue_USD"]) == (1, 25)  # no currency: the app's default


@pytest.mark.clock
@time_machine.travel(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))  # the morning after the opens: none is too old
def test_a_recurring_campaigns_events_count_once_per_device_and_run_in_the_runs_series(
    names: dict[str, str],
) -> None:
    """An open of a recurring campaign counts for the run that last reached the device, in that run's
    stats and its own time series; the next run's open counts again, a repeat within a run does not."""
    from pushengine.dal.timeseries import TimeseriesRepository

    series = TimeseriesRepository(names["AnalyticsTable"])
    campaigns = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"], series)
    devices = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 4)
    devices.put("app_1", "d1", {"platform": "ios", "token": "ab" * 32, "timezone": "America/New_York"})
    spec = {"name": "c", "message": {"title": "t", "body": "b"},
            "schedule": {"type": "recurring", "frequency": "daily", "time": "09:00", "start": "2026-11-01"},
            "variants": [{"name": "morning", "message": {"title": "m", "body": "b"}},
                         {"name": "evening", "time": "18:00", "message": {"title": "e", "body": "b"}}]}  # fmt: skip
    campaigns.create({"app_id": "app_1", "campaign_id": "c2", "name": "c", "status": "active", "spec": spec,
                      "waves": [], "waves_pending": 0, "tasks_pending": 0, "batches_pending": 0,
                      "stats": zero_stats(), "vstats": {v: zero_stats() for v in ("morning", "evening", "holdout")},
                      "errors": {}})  # fmt: skip
    deps = events.EventDeps(campaigns=campaigns, devices=devices)
    # 18:30 in New York: after either variant's send of that local date
    first, second = "2026-11-20T23:30:00+00:00", "2026-11-21T23:30:00+00:00"
    opened = [EventIn.model_validate({"device_id": "d1", "name": "opened", "campaign_id": "c2", "timestamp": at})
              for at in (first, second, second)]  # fmt: skip
    answers = [events.record_event(deps, "app_1", e) for e in opened]
    assert [(a["counted"], a["run"]) for a in answers] == [
        (True, "2026-11-20"), (True, "2026-11-21"), (False, "2026-11-21")
    ]  # fmt: skip
    assert campaigns.progress("app_1", "c2")["stats"]["opened"] == 2  # type: ignore[index]
    runs = campaigns.runs("app_1", "c2", ["2026-11-20", "2026-11-21"])
    assert {run: stats["opened"] for run, stats in runs.items()} == {"2026-11-20": 1, "2026-11-21": 1}
    for run, hour in (("2026-11-20", "2026-11-20T23"), ("2026-11-21", "2026-11-21T23")):
        ((item),) = list(series.hours("app_1", "c2", run))
        assert (item["hour"], item["stats"]) == (hour, {"opened": 1}), run
    assert [i["stats"]["opened"] for i in series.hours("app_1", "c2")] == [1, 1]  # the campaign's own series
