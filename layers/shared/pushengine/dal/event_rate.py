"""Client events per device per minute: one counter item per (app, subject, UTC minute) in the
delivery-state table, expiring after the minute (see pushengine.device_trust)."""

from __future__ import annotations

import time

from pushengine.dal import aws

WINDOW_SECONDS = 60
WINDOW_TTL_SECONDS = 600  # a counter outlives its minute by ten, then DynamoDB's TTL removes it


class EventRate:
    def __init__(self, delivery_state_table: str) -> None:
        self._table = aws.table(delivery_state_table)

    def take(self, app_id: str, subject: str, limit: int, *, now: float | None = None) -> int | None:
        """Count one event of `subject` (a device, or a user) in the current minute: None when it fits under
        `limit`, else the seconds until the next minute. A refused event takes no slot."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        taken = aws.conditional(
            self._table.update_item,
            Key={"pk": f"crate#{app_id}#{subject}#{window}"},
            UpdateExpression="ADD used :one SET expires_at = if_not_exists(expires_at, :x)",
            ConditionExpression="attribute_not_exists(used) OR used < :max",
            ExpressionAttributeValues={
                ":one": 1, ":max": limit, ":x": (window + 1) * WINDOW_SECONDS + WINDOW_TTL_SECONDS,
            },
        )  # fmt: skip
        return None if taken else max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
