"""Erasure of a person: every device of the user and every copy of their data the engine holds.

Device items hold the push address, the profile (tags, attributes, behaviour); frequency-cap items and
deferred batches (quiet hours) hold device ids and, the latter, push addresses. A send batch already on
the queue is caught by the sender: the app's erasure mark is written first, so any batch queued before
it re-reads its devices and skips the erased ones (delivery.erasure)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.erasures import ErasureMarks, ErasureStore
from pushengine.errors import NotFound
from pushengine.profiles import MAX_USER_DEVICES


class ErasureOut(BaseModel):
    user_id: str
    devices: int
    frequency_caps: int
    deferred_batches: int


@dataclass
class ErasureDeps:
    devices: DevicesRepository
    campaigns: CampaignsRepository
    marks: ErasureMarks
    store: ErasureStore


def erase_user(deps: ErasureDeps, app_id: str, user_id: str) -> ErasureOut:
    owned: list[str] = []
    while batch := [
        str(d["device_id"]) for d in deps.devices.of_user(app_id, user_id, limit=MAX_USER_DEVICES)
    ]:
        if not owned:
            deps.marks.mark(app_id)  # before the first delete: queued batches re-check from now on
        for device_id in batch:
            deps.devices.delete(app_id, device_id)
        owned += batch
    if not owned:
        raise NotFound("no device of this user found", field="user_id")
    caps = deps.store.forget_caps(app_id, owned)
    touched = 0
    gone = set(owned)
    for key, held in deps.store.deferred_holding(owned):
        if held.get("app_id") != app_id:
            continue
        kept = [e for e in held["devices"] if e["id"] not in gone]
        deps.campaigns.store_deferred(key, {**held, "devices": kept})  # released later, to the others
        touched += 1
    return ErasureOut(user_id=user_id, devices=len(owned), frequency_caps=caps, deferred_batches=touched)
