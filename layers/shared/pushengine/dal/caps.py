"""Frequency caps: the one feature that needs a per-device write on the send path (so only capped
campaigns pay for it). Each device keeps the recent sends of capped campaigns in one item; a campaign's own
cap counts its own entries there, the app-wide cap every entry (`ports.CapRule`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from pushengine.dal import aws
from pushengine.ports import CapRule


class FrequencyCaps:
    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table = aws.table(table_name)
        self._clock = clock

    def allow_within(self, app_id: str, device_id: str, send_id: str, limits: list[CapRule]) -> bool:
        """Record the send `send_id` (a campaign, one run of it, or one triggered send) unless any rule of
        `limits` already has `max` of the sends it counts in its window."""
        key = {"pk": f"cap#{app_id}#{device_id}"}
        longest = max(rule.per_hours for rule in limits)
        for _ in range(5):
            now = int(self._clock())
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            recent = [s for s in item.get("sends", []) if int(s.split("@")[1]) > now - longest * 3600]
            if any(s.rsplit("@", 1)[0] == send_id for s in recent):
                return True  # a redelivered batch repeats its own send: already counted
            for rule in limits:
                since = now - rule.per_hours * 3600
                sent = (s.rsplit("@", 1) for s in recent)
                if sum(1 for sid, at in sent if int(at) > since and rule.counts(sid)) >= rule.max:
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
