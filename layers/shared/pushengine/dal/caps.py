"""Frequency caps: the one feature that needs a per-device write on the send path (so only capped
campaigns pay for it). Each device keeps the recent sends of capped campaigns in one item; a campaign's own
cap counts its own entries there, the app-wide cap every entry (`ports.CapRule`). A rule of scope "user"
counts in its user's item instead, where every device of the user records its sends (`device|send@at`);
a send both kinds of rule count is recorded in both items in one transaction, so neither counts it alone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from pushengine.dal import aws
from pushengine.dal.expressions import serialize
from pushengine.ports import CapRule, cap_subjects, recorded_send


class FrequencyCaps:
    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table = aws.table(table_name)
        self._table_name = table_name
        self._clock = clock

    def allow_within(
        self, app_id: str, device_id: str, send_id: str, limits: list[CapRule], *, user_id: str | None = None
    ) -> bool:
        """Record the send `send_id` (a campaign, one run of it, or one triggered send) unless any rule of
        `limits` already has `max` of the sends it counts in its window."""
        subjects = cap_subjects(app_id, device_id, send_id, limits, user_id)
        for _ in range(5):
            now = int(self._clock())
            writes: list[dict[str, Any]] = []
            repeated = 0
            for pk, (entry, rules) in subjects.items():
                item = self._table.get_item(Key={"pk": pk}, ConsistentRead=True).get("Item") or {}
                longest = max(rule.per_hours for rule in rules)
                recent = [s for s in item.get("sends", []) if recorded_send(s)[2] > now - longest * 3600]
                if any(recorded_send(s)[0] == entry for s in recent):
                    repeated += 1  # a redelivered batch repeats its own send: already counted
                    continue
                for rule in rules:
                    since = now - rule.per_hours * 3600
                    sends = (recorded_send(s) for s in recent)
                    if sum(1 for _, sid, at in sends if at > since and rule.counts(sid)) >= rule.max:
                        return False
                writes.append({
                    "pk": pk, "sends": [*recent, f"{entry}@{now}"], "version": int(item.get("version", 0)) + 1,
                    "expires_at": now + longest * 3600, "seen": item.get("version", 0),
                })  # fmt: skip
            if repeated == len(subjects):
                return True
            if self._write(writes):  # False: another send wrote first, so read again
                return True
        return False

    def _write(self, writes: list[dict[str, Any]]) -> bool:
        condition = "attribute_not_exists(version) OR version = :v"
        if len(writes) == 1:
            (w,) = writes
            seen = w.pop("seen")
            return aws.conditional(
                self._table.put_item, Item=w, ConditionExpression=condition,
                ExpressionAttributeValues={":v": seen},
            )  # fmt: skip
        items = []
        for w in writes:
            seen = w.pop("seen")
            items.append({"Put": {
                "TableName": self._table_name, "Item": serialize(w), "ConditionExpression": condition,
                "ExpressionAttributeValues": serialize({":v": seen}),
            }})  # fmt: skip
        try:
            return aws.transact(items)
        except ClientError as exc:  # either item's condition: another send wrote first
            if "ConditionalCheckFailed" in aws.cancellation_reasons(exc):
                return False
            raise
