"""A conversion whose stats write fails is not lost: the once-per-device claim and the count are one
transaction, so the event counts when it is posted again (against moto, tables from template.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pushengine import events
from pushengine.dal import aws
from pushengine.dal.campaigns import CampaignsRepository, zero_stats
from pushengine.dal.devices import DevicesRepository
from pushengine.models import EventIn

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def repos(names: dict[str, str]) -> tuple[CampaignsRepository, DevicesRepository]:
    campaigns = CampaignsRepository(names["CampaignsTable"], names["CheckpointsTable"])
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
