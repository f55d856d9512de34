"""Export records and units: deterministic ids and names, so a unit written again replaces itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pushengine.dal.export import object_key
from pushengine.export import event_record, event_unit, send_unit
from pushengine.models import EventIn

BATCH = {"app_id": "app1", "campaign_id": "cmp_1", "batch_id": "w1.UTC.0.0.3", "h": "2027-01-04T09",
         "devices": [{"id": "d1", "p": "ios", "v": "a"}, {"id": "d2", "p": "web"}]}  # fmt: skip


def test_a_batch_is_one_unit_whatever_delivery_writes_it() -> None:
    outcomes = [(BATCH["devices"][0], "sent"), (BATCH["devices"][1], "failed")]
    first, again = send_unit(BATCH, outcomes), send_unit(BATCH, outcomes[:1])
    assert object_key(first) == object_key(again) == "events/2027/01/04/09/send-cmp_1-w1.UTC.0.0.3.jsonl"
    assert [(r["record_id"], r["variant"], r["outcome"]) for r in first.records] == [
        ("send:cmp_1:w1.UTC.0.0.3:d1", "a", "sent"),
        ("send:cmp_1:w1.UTC.0.0.3:d2", "default", "failed"),
    ]
    # a batch without a planned hour (a direct send) is placed by when it was first queued
    queued = datetime(2026, 12, 3, 12, 30, 0, 500000, tzinfo=UTC)
    direct = {**{k: v for k, v in BATCH.items() if k != "h"}, "queued_at": queued.timestamp()}
    assert send_unit(direct, outcomes).at == queued


def test_an_event_with_a_timestamp_is_the_same_record_when_posted_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pushengine import export

    at = "2026-11-30T10:00:00Z"
    event = EventIn.model_validate({"device_id": "d1", "name": "purchase", "value": 4, "timestamp": at})
    monkeypatch.setattr(export, "_now", lambda: "2026-11-30T10:00:01.000Z")
    first = event_record("app1", event, {"counted": True})
    monkeypatch.setattr(export, "_now", lambda: "2026-11-30T11:20:00.000Z")  # posted again, later
    again = event_record("app1", event, {})
    assert first["record_id"] == again["record_id"] and first["counted"] is True
    assert object_key(event_unit([first])) == object_key(event_unit([again]))
    assert object_key(event_unit([first])).startswith("events/2026/11/30/10/event-")
    other = EventIn.model_validate({"device_id": "d1", "name": "purchase", "value": 5, "timestamp": at})
    assert event_record("app1", other, {})["record_id"] != first["record_id"]
    assert event_record("app2", event, {})["record_id"] != first["record_id"]


def test_an_event_without_a_timestamp_is_told_apart_by_when_it_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pushengine import export

    event = EventIn.model_validate({"device_id": "d1", "name": "app_open"})
    monkeypatch.setattr(export, "_now", lambda: "2026-11-30T10:00:00.001Z")
    first = event_record("app1", event, {})
    monkeypatch.setattr(export, "_now", lambda: "2026-11-30T10:00:00.002Z")
    assert event_record("app1", event, {})["record_id"] != first["record_id"]


class Ledger:
    """A batch's checkpoint and what gets recorded for it, in memory."""

    def __init__(self, checkpoint: dict) -> None:
        self.item, self.recorded = checkpoint, []

    def checkpoint(self, key: str) -> dict:
        return self.item

    def record(self, *args: object, **kwargs: object) -> bool:
        self.recorded.append(kwargs)
        return True

    def try_complete(self, *args: object, **kwargs: object) -> bool:
        return False


class Sink:
    enabled = True

    def __init__(self) -> None:
        self.objects: dict[str, list] = {}

    def put(self, unit: object) -> None:
        self.objects[object_key(unit)] = list(unit.records)  # type: ignore[attr-defined]


def test_a_dead_lettered_batch_exports_its_failures_and_keeps_outcomes_for_a_redrive() -> None:
    from pushengine.delivery import sending

    done = sending.encode_outcomes({0: "sent"})
    ledger = Ledger({"done_idx": sending.encode_done({0}), "outcomes": done, "counts": {"sent": 1}})
    sink = Sink()
    deps = sending.SenderDeps(settings=None, campaigns=ledger, devices=None, providers=None, export=sink)  # type: ignore[arg-type]
    assert sending.dead_letter(deps, BATCH, "HTTP 503")
    ((key, records),) = sink.objects.items()
    assert key == "events/2027/01/04/09/send-cmp_1-w1.UTC.0.0.3.jsonl"  # the key a redrive writes again
    assert [(r["device_id"], r["outcome"]) for r in records] == [("d1", "sent"), ("d2", "failed")]
    assert ledger.recorded[0]["ledger"]["outcomes"] == done  # so the redrive exports the batch whole
