"""A device erased while its batch waited on the queue is never sent to: the sender asks once per batch
when the app last erased a user, and only a batch queued before that re-reads its devices (one
BatchGetItem per 100 devices); every other batch pays one small read. An erased device's entry becomes a
tombstone before anything is sent, recorded or exported, so its outcome is kept under its pseudonym and
nothing of it goes back to a queue; an entry already a tombstone (an erasure rewrote the batch in a
dead-letter queue: pushengine.erasure) is never sent to."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pushengine.ports import DeviceStore, ErasureLog

ERASED = "erased"
PSEUDONYM_PREFIX = "erased-"


def pseudonym(app_id: str, device_id: str) -> str:
    """What an erased device is called where its outcomes stay counted (message results, audit targets):
    a digest of the app and the id, which tells nobody the id, and is a valid device id itself."""
    if device_id.startswith(PSEUDONYM_PREFIX):
        return device_id
    return PSEUDONYM_PREFIX + hashlib.blake2b(f"{app_id}|{device_id}".encode(), digest_size=8).hexdigest()


def tombstone(app_id: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """What stays of an erased device's entry in a batch: its position, platform and variant (the batch's
    checkpoint and counts go by them), under its pseudonym; nothing that addresses or describes it."""
    variant = {"v": entry["v"]} if "v" in entry else {}
    return {"id": pseudonym(app_id, str(entry["id"])), "p": entry["p"], **variant, ERASED: True}


def with_tombstones(batch: Mapping[str, Any], erased: set[str]) -> dict[str, Any]:
    """The batch with the entries of these device ids as tombstones."""
    app_id = str(batch["app_id"])
    return {**batch, "devices": [tombstone(app_id, e) if e["id"] in erased and not e.get(ERASED) else e
                                 for e in batch["devices"]]}  # fmt: skip


def erased_from(marks: ErasureLog | None, devices: DeviceStore, batch: Mapping[str, Any]) -> set[str]:
    """The ids of the batch's devices that no longer exist, if an erasure happened since it was queued, and
    of its tombstones (entries an erasure rewrote while the batch was in the dead-letter queue)."""
    tombstones = {str(e["id"]) for e in batch["devices"] if e.get(ERASED)}
    if marks is None:
        return tombstones
    last = marks.last(batch["app_id"])
    if not last or last < float(batch.get("queued_at", 0)):
        return tombstones
    ids = [str(e["id"]) for e in batch["devices"] if not e.get(ERASED)]
    present = devices.get_many(batch["app_id"], ids)
    return tombstones | {i for i in ids if i not in present}
