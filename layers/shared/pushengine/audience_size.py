"""How many opted-in devices a filter selects now: the live count of the console's audience builder, of
`POST /v1/audience/count` and `GET /v1/segments/{id}/count`.

Bounded work at any audience size: at most MAX_READS devices are read. An app with more is sampled, each zone
in proportion to its device count (the zone registry's counters): a partition's order is its devices' hash
(`ark`), so the first pages of a zone are a uniform sample of it, and the zone's matches are scaled up to its
size (`estimated: true`). Answers are kept CACHE_SECONDS per container and filter, so a console that asks
again, or several marketers looking at one segment, read nothing more.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pushengine.audience import parse_filter
from pushengine.models import AudienceCount
from pushengine.ports import DeviceStore

MAX_READS = 10_000  # devices read per count at most (~10 pages of the audience index)
PAGE = 1000
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 512
_CACHE: OrderedDict[tuple[str, str], tuple[float, AudienceCount]] = OrderedDict()


def count(
    devices: DeviceStore, app_id: str, audience: dict[str, Any] | None, *, max_reads: int = MAX_READS,
    now: datetime | None = None, clock: Callable[[], float] = time.monotonic,
) -> AudienceCount:  # fmt: skip
    """The count of an audience whose saved segments are already expanded; cached per (app, filter)."""
    key = (app_id, json.dumps(audience, sort_keys=True, separators=(",", ":")))
    hit = _CACHE.get(key)
    if hit and clock() - hit[0] < CACHE_SECONDS:
        return hit[1]
    answer = _count(devices, app_id, audience, max_reads, now or datetime.now(UTC))
    _CACHE[key] = (clock(), answer)
    _CACHE.move_to_end(key)
    while len(_CACHE) > CACHE_ENTRIES:
        _CACHE.popitem(last=False)
    return answer


def _count(
    devices: DeviceStore, app_id: str, audience: dict[str, Any] | None, max_reads: int, now: datetime
) -> AudienceCount:
    matcher = parse_filter(audience, expanded=True) if audience else None
    sizes = devices.zone_sizes(app_id)
    total = sum(sizes.values())
    sampled = total > max_reads
    found = 0.0
    scanned = 0
    partial = False  # some zone was sampled rather than read to its end
    for zone, size in sizes.items():
        # a small app is read whole (a zone whose counter trails still reads to its end); a big one sampled
        quota = max(1, math.ceil(max_reads * size / total)) if sampled else None
        matched = read = 0
        start: dict[str, Any] | None = None
        while True:
            limit = PAGE if quota is None else min(PAGE, quota - read)
            items, start = devices.partition_page(app_id, zone, limit=limit, start=start)
            read += len(items)
            matched += sum(
                1 for d in items if d.get("opted_in", True) and (matcher is None or matcher.matches(d, now))
            )
            if start is None or (quota is not None and read >= quota):
                break
        scanned += read
        whole = start is None
        partial = partial or not whole
        found += matched if whole or not read else matched * size / read
    return AudienceCount(count=round(found), scanned=scanned, estimated=partial,
                         devices=max(total, scanned), counted_at=now.isoformat(timespec="seconds"))  # fmt: skip
