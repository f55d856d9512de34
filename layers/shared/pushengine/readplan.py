"""How a wave reads one zone: as many independent key ranges (cursors) as the zone's size needs, over as
many index partition keys as its read rate needs.

Every device sorts in its zone's index under a 16-bit hash of its id (`dal.devices.range_key`), so any
split of the hash space into contiguous ranges splits the zone's devices evenly. A zone is read by
`cursors_for(count)` ranges, each expected to hold at most `pages_per_cursor` pages: one audience task
(one invocation) reads its range to the end, so no cursor's chain grows with the audience. A zone's count
is the registry's (it drifts a little with concurrent writes); a range that holds more than planned
continues itself, as any task does.

Buckets. One index partition key serves at most 3,000 RCU a second ("By default, every partition in the
table will strive to deliver the full capacity of 3,000 RCU and 1,000 WCU", AWS, bp-partition-key-design).
DynamoDB may split a hot key's items by sort-key range ("split for heat"), but AWS documents it as a
reaction to throttling (throttling-key-range-limit-exceeded-mitigation: "DynamoDB often adapts to hot
partitions through its automatic split-for-heat mechanism"), not as something done before a wave, so the
key is sharded instead. A device's index key is its zone's plus the top hex digit of the hash its sort key
already carries (`app#zone#<h>`): BUCKETS = 16 keys per zone, each holding 4,096 consecutive hash values,
so a cursor's hash range is whole buckets or a range inside one (`bucket_reads`) and every property above
holds unchanged. The arithmetic, at the planned rate of one zone:
    250,000 notifications/s x 0.08 RRU per device read (bench/scale.py: 0.07-0.08) = 20,000 RCU/s;
    20,000 / 3,000 = 6.7 keys at the least; 16 keys -> 1,250 RCU each, 42% of one key's limit.
A 10 M-device zone is 1,112 cursors: 70 touch each bucket (counting the ones that span two), each
reading at the zone's rate / 1,112, so the busiest key takes 70/1,112 x 20,000 = 1,259 RCU (`key_load`),
and a bucket whose cursors run twice as fast as the others still fits. A small zone is one cursor that
reads its 16 buckets one after another in one task, filling each page across them: 16 Queries (17 while
devices written before the buckets remain, `dal.devices.audience_reads`), at least 0.5 RRU each, so 8 to
8.5 RRU a wave in place of 0.5, whatever the zone's size below one page.

Fan-out is a tree: a zone's plan queues at most FAN_OUT messages, each either a cursor task or a slice of
cursors that fans out the same way, so a 10-million-device zone (1,112 cursors) is queued by many
invocations in parallel, none sending more than FAN_OUT / 10 SendMessageBatch calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HASH_SPACE = 1 << 16  # a device's place in its zone: 4 hex digits
BUCKETS = 16  # index partition keys per zone: the top hex digit of the hash
BUCKET_WIDTH = HASH_SPACE // BUCKETS
# The planned read rate of one zone (module docstring) and what one partition key serves.
PLANNED_SENDS_PER_SECOND = 250_000
RRU_PER_DEVICE = 0.08
PARTITION_RCU = 3_000
FAN_OUT = 100  # messages one plan or slice queues: 10 SendMessageBatch calls
# Devices one cursor is planned for, as a share of what it may read: hash ranges are not exactly even
# (a range of 10,000 expected devices holds 10,000 ± 300 at 3 sigma), so plan 10% under the bound.
PLANNING_MARGIN = 0.9


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Hash values [lo, hi) of a zone's partition."""

    lo: int
    hi: int

    @property
    def whole(self) -> bool:
        return self.lo == 0 and self.hi == HASH_SPACE

    def bounds(self) -> tuple[str, str]:
        """BETWEEN bounds over `ark` ("hhhh#device_id"): '$' sorts just after '#', so "hhhh$" closes hhhh."""
        return f"{self.lo:04x}", f"{self.hi - 1:04x}$"


@dataclass(frozen=True, slots=True)
class BucketRead:
    """One Query of a key range: hash values [lo, hi) inside one bucket's partition key."""

    bucket: int
    lo: int
    hi: int

    @property
    def whole(self) -> bool:
        """The whole bucket: its Query needs no sort-key condition."""
        return self.lo == self.bucket * BUCKET_WIDTH and self.hi == (self.bucket + 1) * BUCKET_WIDTH

    def bounds(self) -> tuple[str, str]:
        return KeyRange(self.lo, self.hi).bounds()


def bucket_of(hash_value: int) -> int:
    """The bucket (index partition key) a device of this hash sorts in."""
    if not 0 <= hash_value < HASH_SPACE:
        raise ValueError(f"hash {hash_value} is outside the hash space")
    return hash_value // BUCKET_WIDTH


def bucket_reads(key_range: KeyRange | None) -> list[BucketRead]:
    """The Queries that read a key range (None: the whole zone), in hash order: whole buckets, or the part
    of one bucket the range covers at either end."""
    lo, hi = (key_range.lo, key_range.hi) if key_range is not None else (0, HASH_SPACE)
    return [
        BucketRead(b, max(lo, b * BUCKET_WIDTH), min(hi, (b + 1) * BUCKET_WIDTH))
        for b in range(bucket_of(lo), bucket_of(hi - 1) + 1)
    ]


def key_load(cursors: int, rcu: float) -> dict[int, float]:
    """The RCU each bucket's key takes at most when a zone read by `cursors` cursors is read at `rcu` a
    second: the cursors run at once at equal rates, and one that spans buckets reads them one after
    another, so it counts in full on each bucket it touches."""
    per_cursor = rcu / cursors
    load: dict[int, float] = dict.fromkeys(range(BUCKETS), 0.0)
    for index in range(cursors):
        for read in bucket_reads(key_range(index, cursors)):
            load[read.bucket] += per_cursor
    return load


def cursors_for(count: int, page_size: int, pages_per_cursor: int) -> int:
    """How many key ranges a zone of `count` devices is read as (1 for a small zone)."""
    per_cursor = max(1, int(page_size * pages_per_cursor * PLANNING_MARGIN))
    return max(1, min(HASH_SPACE, math.ceil(count / per_cursor)))


def key_range(index: int, cursors: int) -> KeyRange:
    """The `index`-th of `cursors` contiguous, equal ranges of the hash space."""
    if not 0 <= index < cursors <= HASH_SPACE:
        raise ValueError(f"cursor {index} of {cursors} is outside the plan")
    return KeyRange(index * HASH_SPACE // cursors, (index + 1) * HASH_SPACE // cursors)


def fan(lo: int, hi: int) -> list[tuple[int, int]]:
    """The children of a slice of cursors [lo, hi): single cursors when few enough, else ≤ FAN_OUT
    sub-slices (each fans out again), so every message queues at most FAN_OUT."""
    if hi - lo <= FAN_OUT:
        return [(i, i + 1) for i in range(lo, hi)]
    step = math.ceil((hi - lo) / FAN_OUT)
    return [(a, min(hi, a + step)) for a in range(lo, hi, step)]
