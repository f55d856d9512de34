"""Erasure of a person: every device of the user and every copy of their data the engine holds.

Device items hold the push address, the profile (tags, attributes, behaviour); frequency-cap items and
deferred batches (quiet hours) hold device ids and, the latter, push addresses. A send batch already on
the queue is caught by the sender: the app's erasure mark is written first, so any batch queued before
it re-reads its devices and skips the erased ones (delivery.erasure). A send batch in the send
dead-letter queue is rewritten in place: each of the user's entries becomes a tombstone (id, platform,
variant, `erased`), which keeps the other entries' positions (the batch's checkpoint counts by position)
and is never sent to when the batch is redriven. A pass over that queue longer than the API's budget goes
on in the jobs function."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.erasures import ErasureMarks, ErasureStore
from pushengine.dal.queues import rewrite_all, send_json
from pushengine.delivery.erasure import ERASED
from pushengine.errors import NotFound
from pushengine.profiles import MAX_USER_DEVICES


class ErasureOut(BaseModel):
    user_id: str
    devices: int
    frequency_caps: int
    deferred_batches: int
    dead_letters: int  # send batches in the dead-letter queue rewritten without the user's addresses


DLQ_BUDGET_SECONDS = 10.0  # of the API call; the rest of the pass is a jobs step


@dataclass
class ErasureDeps:
    devices: DevicesRepository
    campaigns: CampaignsRepository
    marks: ErasureMarks
    store: ErasureStore
    send_dlq_url: str = ""
    jobs_queue_url: str = ""
    max_message: int = 262_144


def tombstone(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What stays of an erased device's entry in a queued batch: nothing that addresses or describes it."""
    return {"id": entry["id"], "p": entry["p"], **({"v": entry["v"]} if "v" in entry else {}), ERASED: True}


def without_erased(body: Mapping[str, Any], app_id: str, gone: set[str]) -> dict[str, Any] | None:
    """A send batch with the erased devices' entries as tombstones, or None when it holds none of them."""
    entries = body.get("devices")
    if body.get("app_id") != app_id or not isinstance(entries, list):
        return None
    if not any(isinstance(e, dict) and e.get("id") in gone and not e.get(ERASED) for e in entries):
        return None
    return {**body, "devices": [tombstone(e) if e.get("id") in gone else e for e in entries]}


def scrub_dead_letters(
    deps: ErasureDeps, app_id: str, gone: set[str], *, until: Callable[[], bool]
) -> tuple[int, bool]:
    """(batches rewritten, whether the pass over the send dead-letter queue finished)."""
    if not deps.send_dlq_url:
        return 0, True
    return rewrite_all(deps.send_dlq_url, lambda body: without_erased(body, app_id, gone),
                       max_message=deps.max_message, until=until)  # fmt: skip


def continue_scrub(deps: ErasureDeps, step: Mapping[str, Any], remaining_millis: Callable[[], int]) -> None:
    """The jobs function's share of a long pass: on until 20 s are left, then queued again."""
    _, finished = scrub_dead_letters(deps, step["app_id"], set(step["devices"]),
                                     until=lambda: remaining_millis() < 20_000)  # fmt: skip
    if not finished:
        send_json(deps.jobs_queue_url, [dict(step)], max_message=deps.max_message)


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
    caps = deps.store.forget_caps(app_id, owned, user_id)
    touched = 0
    gone = set(owned)
    for key, held in deps.store.deferred_holding(owned):
        if held.get("app_id") != app_id:
            continue
        kept = [e for e in held["devices"] if e["id"] not in gone]
        deps.campaigns.store_deferred(key, {**held, "devices": kept})  # released later, to the others
        touched += 1
    ends = time.monotonic() + DLQ_BUDGET_SECONDS
    rewritten, finished = scrub_dead_letters(deps, app_id, gone, until=lambda: time.monotonic() > ends)
    if not finished:
        step = {"kind": "erase_dead_letters", "app_id": app_id, "devices": sorted(gone)}
        send_json(deps.jobs_queue_url, [step], max_message=deps.max_message)
    return ErasureOut(user_id=user_id, devices=len(owned), frequency_caps=caps, deferred_batches=touched,
                      dead_letters=rewritten)  # fmt: skip


def default_deps() -> ErasureDeps:
    from pushengine.config import settings

    s = settings()
    return ErasureDeps(
        devices=DevicesRepository(s.devices_table, s.zones_table, s.shard_count),
        campaigns=CampaignsRepository(s.campaigns_table, s.delivery_state_table),
        marks=ErasureMarks(s.delivery_state_table), store=ErasureStore(s.delivery_state_table),
        send_dlq_url=s.send_dlq_url, jobs_queue_url=s.jobs_queue_url, max_message=s.max_message_bytes,
    )  # fmt: skip
