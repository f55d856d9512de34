"""Backfill for deployments made before the audience index was keyed per zone bucket.

Two older shapes are keyed again. Devices written before the index was keyed per zone carry `aud` =
app#zone#shard and no `ark`, so they are not in the `audience` index at all, and the zone registry holds
no device counts. Devices written before the buckets carry `aud` = app#zone (the zone's bare key) with
their `ark`: every read of a zone still reads that key (`dal.devices.audience_reads`), so they are reached
while the migration runs, but all of a big zone's reads land on that one key until they move to their
buckets. The migration scans the devices table in parallel segments and, for every device still in the
audience (it has `aud`), writes `aud` and `ark` as `devices.device_item` does (one conditional UpdateItem,
only where they differ); then it sets each zone's device count from what the scan counted.

Resumable and idempotent: each segment's cursor, its counts and its tallies are saved after every page in
one item of the delivery-state table, so an interrupted run goes on from the last saved page (a page done
twice rewrites nothing the second time and is counted once); a run over a finished state only writes the
counts again (SET, not ADD), and a fresh run (`fresh=True`) rewrites nothing that is already right.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pushengine.dal import aws
from pushengine.dal.devices import audience_key, range_key

# v2: the run that keys devices by bucket; a state the per-zone run saved (migrate#audience#<n>#<i>) is
# not taken for this one's, so a deployment that ran it within STATE_DAYS still scans anew.
STATE_PREFIX = "migrate#audience#v2"
STATE_DAYS = 14
_SEP = "\t"  # between app id and zone in a saved count's key (neither holds a tab)


@dataclass
class SegmentState:
    """One scan segment's progress: where it stopped, what it counted and did."""

    segment: int
    cursor: dict[str, Any] | None = None
    done: bool = False
    scanned: int = 0
    rewritten: int = 0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def as_item(self, key: str) -> dict[str, Any]:
        return {
            "pk": key, "segment": self.segment, "done": self.done, "scanned": self.scanned,
            "rewritten": self.rewritten, "cursor": json.dumps(self.cursor) if self.cursor else "",
            "counts": {f"{app}{_SEP}{zone}": n for (app, zone), n in self.counts.items()},
            "expires_at": int(time.time()) + STATE_DAYS * 86400,
        }  # fmt: skip

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> SegmentState:
        counts: Counter[tuple[str, str]] = Counter()
        for key, n in (item.get("counts") or {}).items():
            app, zone = str(key).split(_SEP, 1)
            counts[(app, zone)] = int(n)
        return cls(
            segment=int(item["segment"]), cursor=json.loads(item["cursor"]) if item.get("cursor") else None,
            done=bool(item.get("done")), scanned=int(item.get("scanned", 0)),
            rewritten=int(item.get("rewritten", 0)), counts=counts,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    scanned: int
    rewritten: int
    zones: dict[tuple[str, str], int]  # (app id, zone) → devices in the audience
    segments_done: int
    segments: int


def needs_rewrite(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """(aud, ark) a device in the audience should carry, when it does not yet; None if nothing to do."""
    if "aud" not in item:  # pruned or never active: not in the audience, nothing to key
        return None
    app_id, zone, device_id = str(item["app_id"]), str(item["timezone"]), str(item["device_id"])
    aud, ark = audience_key(app_id, zone, device_id), range_key(device_id)
    return None if item.get("aud") == aud and item.get("ark") == ark else (aud, ark)


class AudienceMigration:
    def __init__(
        self, devices_table: str, zones_table: str, delivery_state_table: str, *, segments: int = 8,
        page_size: int = 1000,
    ) -> None:  # fmt: skip
        if not 1 <= segments <= 1_000_000:
            raise ValueError("segments must be between 1 and 1,000,000")
        self._devices = aws.table(devices_table)
        self._zones = aws.table(zones_table)
        self._state = aws.table(delivery_state_table)
        self.segments = segments
        self.page_size = page_size
        self._lock = threading.Lock()

    def _key(self, segment: int) -> str:
        return f"{STATE_PREFIX}#{self.segments}#{segment}"

    def load(self) -> list[SegmentState]:
        """Every segment's saved state (a new one where none was saved)."""
        states = []
        for segment in range(self.segments):
            item = self._state.get_item(Key={"pk": self._key(segment)}, ConsistentRead=True).get("Item")
            states.append(SegmentState.from_item(item) if item else SegmentState(segment))
        return states

    def forget(self) -> None:
        """Drop the saved state: the next run scans the whole table again."""
        for segment in range(self.segments):
            aws.retried(self._state.delete_item, Key={"pk": self._key(segment)})

    def run(
        self, *, workers: int = 4, fresh: bool = False,
        on_page: Callable[[list[SegmentState]], None] | None = None,
    ) -> Report:  # fmt: skip
        """Scan what is left of every segment, then set the zone counts. `on_page` sees every segment's
        state after each saved page (progress output; an exception there stops the run, resumable)."""
        if fresh:
            self.forget()
        states = self.load()

        def scan(state: SegmentState) -> None:
            while not state.done:
                self._page(state)
                if on_page is not None:
                    with self._lock:
                        on_page(states)

        with ThreadPoolExecutor(max(1, min(workers, self.segments))) as pool:
            list(pool.map(scan, [s for s in states if not s.done]))
        zones: Counter[tuple[str, str]] = Counter()
        for state in states:
            zones.update(state.counts)
        self._set_counts(zones)
        return Report(
            scanned=sum(s.scanned for s in states), rewritten=sum(s.rewritten for s in states),
            zones=dict(zones), segments_done=sum(s.done for s in states), segments=self.segments,
        )  # fmt: skip

    def _page(self, state: SegmentState) -> None:
        kwargs: dict[str, Any] = {"Segment": state.segment, "TotalSegments": self.segments,
                                  "Limit": self.page_size}  # fmt: skip
        if state.cursor:
            kwargs["ExclusiveStartKey"] = state.cursor
        page = aws.retried(self._devices.scan, **kwargs)
        for item in page["Items"]:
            if "aud" not in item:
                continue
            wanted = needs_rewrite(item)
            if wanted is not None and not self._rewrite(item, *wanted):
                continue  # changed under us (pruned, moved, deleted): its own write keyed and counted it
            state.counts[(str(item["app_id"]), str(item["timezone"]))] += 1
            state.rewritten += wanted is not None
        state.scanned += len(page["Items"])
        state.cursor = page.get("LastEvaluatedKey")
        state.done = state.cursor is None
        aws.retried(self._state.put_item, Item=state.as_item(self._key(state.segment)))

    def _rewrite(self, item: Mapping[str, Any], aud: str, ark: str) -> bool:
        """Key one device as now; False if it left the audience or moved zone since the scan read it."""
        return aws.conditional(
            self._devices.update_item,
            Key={"pk": item["pk"]},
            UpdateExpression="SET aud = :aud, ark = :ark",
            ConditionExpression="attribute_exists(aud) AND #tz = :tz",
            ExpressionAttributeNames={"#tz": "timezone"},
            ExpressionAttributeValues={":aud": aud, ":ark": ark, ":tz": item["timezone"]},
        )

    def _set_counts(self, zones: Mapping[tuple[str, str], int]) -> None:
        """Each counted zone's device count set (registered if it was not), and registered zones the scan
        found empty set to 0: SET, so running it again changes nothing."""
        registered: set[tuple[str, str]] = set()
        kwargs: dict[str, Any] = {
            "ProjectionExpression": "app_id, #z",
            "ExpressionAttributeNames": {"#z": "zone"},
        }
        while True:
            page = aws.retried(self._zones.scan, **kwargs)
            registered |= {(str(i["app_id"]), str(i["zone"])) for i in page["Items"]}
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        for app_id, zone in sorted(registered | set(zones)):
            aws.retried(
                self._zones.update_item,
                Key={"app_id": app_id, "zone": zone},
                UpdateExpression="SET devices = :n, first_seen = if_not_exists(first_seen, :t)",
                ExpressionAttributeValues={":n": int(zones.get((app_id, zone), 0)), ":t": stamp},
            )


def stack_tables(stack: str, logical_ids: tuple[str, ...]) -> dict[str, str]:
    """The physical names of a deployed stack's tables, by logical id."""
    cloudformation = aws.client("cloudformation")
    return {
        logical: cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
        for logical in logical_ids
    }
