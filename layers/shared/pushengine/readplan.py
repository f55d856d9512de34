"""How a wave reads one zone: as many independent key ranges (cursors) as the zone's size needs.

Every device sorts in its zone's index partition under a 16-bit hash of its id (`dal.devices.range_key`),
so any split of the hash space into contiguous ranges splits the zone's devices evenly. A zone is read by
`cursors_for(count)` ranges, each expected to hold at most `pages_per_cursor` pages: one audience task
(one invocation) reads its range to the end, so no cursor's chain grows with the audience. A small zone
is one range: one Query. A zone's count is the registry's (it drifts a little with concurrent writes); a
range that holds more than planned continues itself, as any task does.

Fan-out is a tree: a zone's plan queues at most FAN_OUT messages, each either a cursor task or a slice of
cursors that fans out the same way, so a 10-million-device zone (1,000 cursors) is queued by many
invocations in parallel, none sending more than FAN_OUT / 10 SendMessageBatch calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HASH_SPACE = 1 << 16  # a device's place in its zone: 4 hex digits
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
