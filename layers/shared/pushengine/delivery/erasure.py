"""A device erased while its batch waited on the queue is never sent to: the sender asks once per batch
when the app last erased a user, and only a batch queued before that re-reads its devices (one
BatchGetItem per 100 devices); every other batch pays one small read. An entry marked `erased` (an
erasure rewrote the batch in the dead-letter queue: pushengine.erasure) is never sent to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushengine.ports import DeviceStore, ErasureLog

ERASED = "erased"


def erased_from(marks: ErasureLog | None, devices: DeviceStore, batch: Mapping[str, Any]) -> set[str]:
    """The ids of the batch's devices that no longer exist, if an erasure happened since it was queued, and
    of its tombstones (entries an erasure rewrote while the batch was in the dead-letter queue)."""
    tombstones = {str(e["id"]) for e in batch["devices"] if e.get(ERASED)}
    if marks is None:
        return tombstones
    last = marks.last(batch["app_id"])
    if not last or last < float(batch.get("queued_at", 0)):
        return tombstones
    ids = [str(e["id"]) for e in batch["devices"]]
    present = devices.get_many(batch["app_id"], ids)
    return tombstones | {i for i in ids if i not in present}
