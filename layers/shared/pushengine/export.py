"""Event export for a data team: every send outcome and every posted event as one JSON record.

Pure record builders; the adapter that ships them (Firehose, EventBridge, or S3 objects in the local
stack) is pushengine.dal.export. Records are written after the ledger that counts them, so a normal run
exports each once; a crash between the count and the export loses that batch's records (at most once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pushengine.models import EventIn


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def send_records(
    batch: Mapping[str, Any], outcomes: Iterable[tuple[Mapping[str, Any], str]]
) -> list[dict[str, Any]]:
    """One record per device of a send batch whose outcome this invocation settled."""
    at = _now()
    return [
        {"type": "send", "app_id": batch["app_id"], "campaign_id": batch["campaign_id"],
         "batch_id": batch["batch_id"], "device_id": entry["id"], "platform": entry["p"],
         "variant": entry.get("v", "default"), "outcome": outcome, "at": at}
        for entry, outcome in outcomes
    ]  # fmt: skip


def event_record(app_id: str, event: EventIn, result: Mapping[str, Any]) -> dict[str, Any]:
    """A posted event as it was accepted, with what it was counted for."""
    record = {"type": "event", "app_id": app_id, "received_at": _now(),
              **event.model_dump(mode="json", exclude_none=True)}  # fmt: skip
    for key in ("variant", "attributed", "counted"):
        if key in result:
            record[key] = result[key]
    return record
