"""Behaviour profiles and the event-name registry on DynamoDB (moto), tables made from template.yaml."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pushengine import profiles
from pushengine.dal.profiles import ProfilesRepository
from samlocal import create_tables, load_template
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

START = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield create_tables(load_template(ROOT / "template.yaml"), boto3.client("dynamodb"))


def put_device(tables: dict[str, str], device_id: str, **fields: Any) -> None:
    table = boto3.resource("dynamodb").Table(tables["DevicesTable"])
    table.put_item(Item={"pk": f"app_1#{device_id}", "app_id": "app_1", "device_id": device_id, "version": 1,
                         **fields})  # fmt: skip


def device(tables: dict[str, str], device_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(tables["DevicesTable"])
    return dict(table.get_item(Key={"pk": f"app_1#{device_id}"})["Item"])


def test_events_in_any_order_keep_first_last_count_and_sum(tables: dict[str, str]) -> None:
    repo = ProfilesRepository(tables["DevicesTable"], tables["AudienceTable"])
    put_device(tables, "d1")
    moments = [START + timedelta(hours=h) for h in range(30)]
    random.Random(3).shuffle(moments)  # late batches: older events arrive after newer ones
    for i, moment in enumerate(moments):
        value = float(i) if i % 2 else None
        assert repo.apply("app_1", "d1", "purchase", profiles.stamp(moment), value) is True
    view = profiles.profile_view(device(tables, "d1"))["purchase"]
    assert view == {
        "first": profiles.stamp(min(moments)),
        "last": profiles.stamp(max(moments)),
        "count": 30,
        "sum": sum(Decimal(i) for i in range(30) if i % 2),
    }
    assert device(tables, "d1")["version"] == 31  # each event bumps it: a racing re-registration re-reads
    assert repo.apply("app_1", "nope", "purchase", profiles.stamp(START), None) is False


def test_the_name_registry_caps_names_across_containers_and_caches(tables: dict[str, str]) -> None:
    first = ProfilesRepository(tables["DevicesTable"], tables["AudienceTable"], max_names=3)
    second = ProfilesRepository(tables["DevicesTable"], tables["AudienceTable"], max_names=3)
    assert all(first.admit_name("app_1", n) for n in ("a", "b"))
    assert second.admit_name("app_1", "c") is True  # another container: the cap is the table's
    assert first.admit_name("app_1", "d") is False
    assert first.admit_name("app_1", "c") is True and second.admit_name("app_1", "a") is True
    assert first.event_names("app_1") == ["a", "b", "c"]
    assert first.admit_name("app_2", "d") is True  # per app

    table = boto3.resource("dynamodb").Table(tables["AudienceTable"])
    table.delete_item(Key={"app_id": "app_1", "key": "event-names"})
    # Known names cost no write (the registry is gone, yet they are admitted from the cache) ...
    assert first.admit_name("app_1", "a") is True
    assert "Item" not in table.get_item(Key={"app_id": "app_1", "key": "event-names"})
    # ... and a container that found the set full refuses more without writing.
    assert first.admit_name("app_1", "e") is False
    assert "Item" not in table.get_item(Key={"app_id": "app_1", "key": "event-names"})


def test_opens_keep_the_newest_minutes_on_the_device_and_the_apps_local_hours(tables: dict[str, str]) -> None:
    from pushengine import typical_time

    repo = ProfilesRepository(tables["DevicesTable"], tables["AudienceTable"])
    put_device(tables, "d1", timezone="Asia/Kathmandu")  # UTC+5:45
    opens = [START + timedelta(days=d, hours=3, minutes=20) for d in range(2 * typical_time.RECENT_OPENS + 3)]
    random.Random(5).shuffle(opens)  # late batches append older opens after newer ones
    for moment in opens:
        minute = typical_time.epoch_minute(moment)
        assert repo.apply("app_1", "d1", "app_open", profiles.stamp(moment), None, minute) is True
    assert repo.apply("app_1", "d1", "purchase", profiles.stamp(START), None) is True  # not an open
    held = [int(m) for m in device(tables, "d1")[typical_time.OPEN_TIMES]]
    assert len(held) <= 2 * typical_time.RECENT_OPENS  # trimmed as it grows past twice the bound
    assert typical_time.newest(held) == typical_time.newest(typical_time.epoch_minute(m) for m in opens)
    # 03:20 UTC is 09:05 in Kathmandu: every open counted in hour 9 of the app, over its week items
    counts = repo.app_hours("app_1", typical_time.epoch_minute(max(opens)))

    def within(days: int) -> int:
        return sum(1 for m in opens if m > max(opens) - timedelta(days=days))

    # the weeks that meet the last 90 days: those days' opens, and at most a week's more
    assert set(counts) == {9} and within(typical_time.HISTORY_DAYS) <= counts[9] <= within(
        typical_time.HISTORY_DAYS + 7
    )
    assert repo.app_hours("app_2", typical_time.epoch_minute(max(opens))) == {}
