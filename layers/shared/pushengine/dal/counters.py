"""A campaign's counters spread over SHARDS items, so no item takes writes that grow with the audience.

The campaign's progress item keeps what changes once per wave or audience task (status, waves and tasks
pending, pacing slots); stats, per-variant stats, dead-letter reasons and pending send batches are added to
one of SHARDS shard items. At 10 million notifications a minute (~670 send batches a second of 250) each
shard takes ~40 writes a second, far under DynamoDB's 1,000 WCU per partition.

A send batch is counted down on the shard its audience task counted it up on (`cs` in the batch), so a
shard's `batches_pending` only reaches 0 when every batch counted there is done: a batch checks its own
shard (one small read), and only when that is 0 reads the progress item and all shards. Completion needs
`tasks_pending` 0 on the progress item, and a task adds its batches in the same transaction that counts it
done, so no batch can still be uncounted when every shard reads 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

SHARDS = 16
MAIN_COUNTERS = frozenset({"waves_pending", "tasks_pending"})  # on the progress item, read with the status
SUMMED = ("stats", "vstats", "errors")  # maps added up over the shards


def shard_of(key: str) -> int:
    """The shard a ledger key's writes go to when its message names none."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=2).digest(), "big") % SHARDS


def shard_key(progress_pk: str, shard: int) -> str:
    return f"{progress_pk}#c{shard % SHARDS}"


def summed(main: Mapping[str, Any], shards: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The progress item with its shards' maps and pending batches added in."""
    out = dict(main)
    for item in shards:
        for name in SUMMED:
            out[name] = _add(out.get(name) or {}, item.get(name) or {})
        out["batches_pending"] = out.get("batches_pending", 0) + item.get("batches_pending", 0)
    return out


def _add(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _add(out.get(k) or {}, v) if isinstance(v, Mapping) else out.get(k, 0) + v
    return out
