"""Event export for a data team: every send outcome and every posted event as one JSON record.

Pure record builders; the adapter that ships them (Firehose, EventBridge, or S3 objects in the local
stack) is pushengine.dal.export. Every record has a deterministic `record_id`, and records ship in units
with a deterministic name (`ExportUnit`): a send batch's outcomes are one unit, written before the
ledger that counts the batch, so a crash before the count means SQS brings the batch back and the unit
is written again, under the same name. Where the sink can overwrite (S3 objects) that makes the export
exactly once; Firehose and EventBridge deliver at least once, and `record_id` is what a consumer keeps
one of. A posted event's id is its content (with its `timestamp`): the same event posted again is the
same record; an event without a `timestamp` is told apart from a repeat only by when it arrived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pushengine.models import EventIn


@dataclass(frozen=True, slots=True)
class ExportUnit:
    """Records shipped together: `name` is the same whenever the same records ship again, and `at` (the
    hour the unit belongs to) too, so an S3 object for it lands under the same key."""

    name: str
    at: datetime
    records: Sequence[dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def batch_time(batch: Mapping[str, Any]) -> datetime:
    """The hour a send batch's wave planned (`h`), else when the batch was first queued: the same for every
    delivery of the batch."""
    if batch.get("h"):
        return datetime.strptime(str(batch["h"]), "%Y-%m-%dT%H").replace(tzinfo=UTC)
    if batch.get("queued_at"):
        return datetime.fromtimestamp(float(batch["queued_at"]), UTC)
    return datetime.now(UTC)


def send_unit(batch: Mapping[str, Any], outcomes: Iterable[tuple[Mapping[str, Any], str]]) -> ExportUnit:
    """A send batch's settled outcomes, named by the batch (its ledger key's parts)."""
    name = f"send-{batch['campaign_id']}-{batch['batch_id']}"
    return ExportUnit(name, batch_time(batch), send_records(batch, outcomes))


def event_unit(records: Sequence[dict[str, Any]]) -> ExportUnit:
    """One request's accepted events, named by their record ids: a retried request is the same unit."""
    name = "event-" + _digest(*sorted(r["record_id"] for r in records))
    times = [str(r.get("timestamp") or r["received_at"]) for r in records]
    at = datetime.fromisoformat(min(times).replace("Z", "+00:00")) if times else datetime.now(UTC)
    return ExportUnit(name, at, records)


def send_records(
    batch: Mapping[str, Any], outcomes: Iterable[tuple[Mapping[str, Any], str]]
) -> list[dict[str, Any]]:
    """One record per device of a send batch whose outcome this invocation settled."""
    at = _now()
    return [
        {"type": "send", "record_id": f"send:{batch['campaign_id']}:{batch['batch_id']}:{entry['id']}",
         "app_id": batch["app_id"], "campaign_id": batch["campaign_id"],
         "batch_id": batch["batch_id"], "device_id": entry["id"], "platform": entry["p"],
         "variant": entry.get("v", "default"), "outcome": outcome, "at": at}
        for entry, outcome in outcomes
    ]  # fmt: skip


def event_id(app_id: str, event: EventIn, received: str) -> str:
    """An event's identity: its content, with its `timestamp`; without one, when it arrived too (a repeat of
    a timeless event cannot be told from a retry, so each post is its own event)."""
    content = json.dumps(
        event.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":")
    )
    return "event:" + _digest(app_id, content, "" if event.timestamp else received)


def event_record(app_id: str, event: EventIn, result: Mapping[str, Any]) -> dict[str, Any]:
    """A posted event as it was accepted, with what it was counted for."""
    received = _now()
    record = {"type": "event", "record_id": event_id(app_id, event, received), "app_id": app_id,
              "received_at": received, **event.model_dump(mode="json", exclude_none=True)}  # fmt: skip
    for key in ("variant", "attributed", "counted"):
        if key in result:
            record[key] = result[key]
    return record
