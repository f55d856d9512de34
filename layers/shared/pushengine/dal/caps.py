"""Frequency caps: the one feature that needs a per-device write on the send path (so only capped
campaigns pay for it). Each device keeps the recent sends of capped campaigns in one item."""

from __future__ import annotations

import time
from collections.abc import Callable

from pushengine.dal import aws


class FrequencyCaps:
    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table = aws.table(table_name)
        self._clock = clock

    def allow(self, app_id: str, device_id: str, campaign_id: str, limit: int, per_hours: int) -> bool:
        """Record this campaign's send to the device unless `limit` sends already fall in the window."""
        return self.allow_within(app_id, device_id, campaign_id, [(limit, per_hours)])

    def allow_within(self, app_id: str, device_id: str, send_id: str, limits: list[tuple[int, int]]) -> bool:
        """Record the send `send_id` (a campaign, or one run of it) unless any (max, per_hours) of `limits`
        already has max sends in its window: a campaign's own cap and the app-wide one count the same sends."""
        key = {"pk": f"cap#{app_id}#{device_id}"}
        longest = max(hours for _, hours in limits)
        for _ in range(5):
            now = int(self._clock())
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            recent = [s for s in item.get("sends", []) if int(s.split("@")[1]) > now - longest * 3600]
            if any(s.rsplit("@", 1)[0] == send_id for s in recent):
                return True  # a redelivered batch repeats its own send: already counted
            for limit, per_hours in limits:
                if sum(1 for s in recent if int(s.split("@")[1]) > now - per_hours * 3600) >= limit:
                    return False
            written = aws.conditional(  # False: another campaign wrote first, so read again
                self._table.put_item,
                Item={
                    **key,
                    "sends": [*recent, f"{send_id}@{now}"],
                    "version": int(item.get("version", 0)) + 1,
                    "expires_at": now + longest * 3600,
                },
                ConditionExpression="attribute_not_exists(version) OR version = :v",
                ExpressionAttributeValues={":v": item.get("version", 0)},
            )
            if written:
                return True
        return False
