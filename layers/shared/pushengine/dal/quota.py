"""Provider-quota windows as counters in the delivery-state table (see pushengine/pacing.py for the scheme)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pushengine.dal import aws
from pushengine.pacing import MAX_CLAIMS, Lane, place

WINDOW_TTL_SECONDS = 3600  # a window counter outlives its second by an hour, then expires


@dataclass(frozen=True, slots=True)
class Claim:
    """`at`: when the first claimed notification may go (then one every 1/rate s); `granted`: False when
    the claim found no room within MAX_CLAIMS windows and `at` is only an estimate to come back at."""

    at: float
    granted: bool
    rate: float


class QuotaLedger:
    def __init__(self, delivery_state_table: str) -> None:
        self._table = aws.table(delivery_state_table)

    def claim(
        self,
        lane: Lane,
        count: int,
        *,
        now: float | None = None,
        start: float | None = None,
        shard_hint: int = 0,
    ) -> Claim:
        """Place `count` notifications in the lane's earliest one-second window with room, from `start`
        (default now): one counter write per window tried, at most MAX_CLAIMS."""
        now = time.time() if now is None else now
        shard = shard_hint % lane.shards
        window = int(max(now, start or now))
        for _ in range(MAX_CLAIMS):
            got = aws.retried(
                self._table.update_item,
                Key={"pk": f"quota#{lane.scope}#{lane.lane}#{window}#{shard}"},
                UpdateExpression="ADD used :n SET expires_at = if_not_exists(expires_at, :x)",
                ExpressionAttributeValues={":n": count, ":x": window + WINDOW_TTL_SECONDS},
                ReturnValues="UPDATED_NEW",
            )
            placement = place(window, float(got["Attributes"]["used"]) - count, count, lane.per_window)
            if placement.granted:
                return Claim(max(now, placement.due), True, lane.per_window)
            window = placement.next_window
        return Claim(float(window), False, lane.per_window)
