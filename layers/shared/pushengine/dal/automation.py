"""The automation table (pk, sk): what runs on events and on the clock rather than once.

- `active` / `{app_id}#{campaign_id}`: recurring and anniversary campaigns the planner extends, and
  triggered campaigns it ends; one small partition read per periodic run (campaigns, not devices).
- `listen#{app_id}#{event}` / `{campaign_id}#{trigger|cancel}`: which triggered campaigns an event
  starts or cancels; one query per posted event.
- `pending#{app_id}#{campaign_id}` / `{device_id}`: a device's pending triggered send. Its `state`
  (pending → sending → sent, or pending → cancelled) is what the cancel and the due send contend
  for with conditional writes; `gen` tells a restarted wait from the one it replaced.
- `anniv#{app_id}#{attribute}#{MM-DD}` / `{zone}#{device_id}`: devices celebrating on a month-day,
  written at registration for the app's declared date attributes, so a day reads only its celebrants.
- `planned#{app_id}#{campaign_id}` / `{run}#{wave_id}`: occurrence waves already scheduled.
- `dateindex#{app_id}` / `{attribute}`: the job indexing the devices that held a date attribute when it was
  declared (`job_id`, `status` running → completed); anniversary campaigns on it plan once it completes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key

from pushengine.dal import aws
from pushengine.dal.numbers import from_dynamo, to_dynamo

PENDING_DAYS_AFTER_DUE = 14  # a finished pending item lingers this long (it keeps `gen` counting)


class AutomationRepository:
    def __init__(self, table_name: str) -> None:
        self._table = aws.table(table_name)

    def _query(self, pk: str, prefix: str | None = None) -> Iterator[dict[str, Any]]:
        condition: ConditionBase = Key("pk").eq(pk)
        if prefix:
            condition = condition & Key("sk").begins_with(prefix)
        start: dict[str, Any] | None = None
        while True:
            page = self._table.query(
                KeyConditionExpression=condition,
                ConsistentRead=True,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            yield from page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    # ---- active campaigns ----
    def activate(self, app_id: str, campaign_id: str, kind: str, schedule: dict[str, Any]) -> None:
        aws.retried(
            self._table.put_item,
            Item={"pk": "active", "sk": f"{app_id}#{campaign_id}", "app_id": app_id,
                  "campaign_id": campaign_id, "kind": kind, "schedule": schedule},
        )  # fmt: skip

    def deactivate(self, app_id: str, campaign_id: str) -> None:
        aws.retried(self._table.delete_item, Key={"pk": "active", "sk": f"{app_id}#{campaign_id}"})

    def active(self) -> Iterator[dict[str, Any]]:
        return self._query("active")

    # ---- event listeners of triggered campaigns ----
    def listen(self, app_id: str, campaign_id: str, trigger: str, cancel_on: list[str]) -> None:
        roles = [(trigger, "trigger"), *[(name, "cancel") for name in cancel_on]]
        for name, role in roles:
            aws.retried(
                self._table.put_item,
                Item={"pk": f"listen#{app_id}#{name}", "sk": f"{campaign_id}#{role}",
                      "campaign_id": campaign_id, "role": role},
            )  # fmt: skip

    def unlisten(self, app_id: str, campaign_id: str, trigger: str, cancel_on: list[str]) -> None:
        roles = [(trigger, "trigger"), *[(name, "cancel") for name in cancel_on]]
        for name, role in roles:
            aws.retried(
                self._table.delete_item, Key={"pk": f"listen#{app_id}#{name}", "sk": f"{campaign_id}#{role}"}
            )

    def listeners(self, app_id: str, event_name: str) -> list[dict[str, Any]]:
        return list(self._query(f"listen#{app_id}#{event_name}"))

    # ---- pending triggered sends ----
    @staticmethod
    def _pending_key(app_id: str, campaign_id: str, device_id: str) -> dict[str, str]:
        return {"pk": f"pending#{app_id}#{campaign_id}", "sk": device_id}

    def pending(self, app_id: str, campaign_id: str, device_id: str) -> dict[str, Any] | None:
        key = self._pending_key(app_id, campaign_id, device_id)
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item is not None else None

    def arm(
        self, app_id: str, campaign_id: str, device_id: str, *, due: str, event: dict[str, Any], restart: bool
    ) -> tuple[int, int | None] | None:
        """Plan the device's send at `due`: (new gen, replaced gen or None); None when a wait is already
        pending and repeats do not restart it."""
        key = self._pending_key(app_id, campaign_id, device_id)
        for _ in range(5):
            current = self.pending(app_id, campaign_id, device_id)
            gen = int(current["gen"]) + 1 if current else 1
            fields = {"state": "pending", "gen": gen, "due": due, "event": to_dynamo(event),
                      "expires_at": int(time.time()) + 400 * 86400}  # fmt: skip
            if current is not None and current.get("state") == "pending":
                if not restart:
                    return None
                replaced: int | None = int(current["gen"])
                condition = "#s = :pending AND gen = :g"
                values: dict[str, Any] = {":pending": "pending", ":g": current["gen"]}
            else:
                replaced = None
                condition = "attribute_not_exists(pk)" if current is None else "gen = :g"
                values = {} if current is None else {":g": current["gen"]}
            request: dict[str, Any] = {"Item": {**key, **fields}, "ConditionExpression": condition}
            if "#s" in condition:
                request["ExpressionAttributeNames"] = {"#s": "state"}
            if values:
                request["ExpressionAttributeValues"] = values
            written = aws.conditional(self._table.put_item, **request)
            if written:
                return gen, replaced
        raise aws.Contended("pending trigger keeps changing")

    def _transition(
        self,
        app_id: str,
        campaign_id: str,
        device_id: str,
        condition: str,
        values: dict[str, Any],
        update: str,
    ) -> dict[str, Any] | None:
        """One conditional update; the item as it was before, or None if its condition failed."""
        got: dict[str, Any] = {}

        def call() -> None:
            got.update(
                self._table.update_item(
                    Key=self._pending_key(app_id, campaign_id, device_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_OLD",
                ).get("Attributes", {})
            )

        return got if aws.conditional(call) else None

    def claim(self, app_id: str, campaign_id: str, device_id: str, gen: int) -> bool:
        """The due send takes the pending item; False when a cancel (or a restart) got there first."""
        return (
            self._transition(app_id, campaign_id, device_id, "#s = :pending AND gen = :g",
                             {":pending": "pending", ":g": gen, ":sending": "sending"}, "SET #s = :sending")
            is not None
        )  # fmt: skip

    def cancel(self, app_id: str, campaign_id: str, device_id: str, before: str) -> int | None:
        """Cancel a wait due after `before` (the cancel event's time): the gen cancelled, or None."""
        old = self._transition(app_id, campaign_id, device_id, "#s = :pending AND due >= :at",
                               {":pending": "pending", ":at": before, ":cancelled": "cancelled"},
                               "SET #s = :cancelled")  # fmt: skip
        return int(old["gen"]) if old else None

    def finish(self, app_id: str, campaign_id: str, device_id: str, gen: int, state: str) -> bool:
        return (
            self._transition(app_id, campaign_id, device_id, "gen = :g", {":g": gen, ":state": state},
                             "SET #s = :state")
            is not None
        )  # fmt: skip

    def postpone(self, app_id: str, campaign_id: str, device_id: str, gen: int, due: str) -> bool:
        """Quiet hours: the claimed send waits again, as a new gen, until `due`."""
        return (
            self._transition(app_id, campaign_id, device_id, "#s = :sending AND gen = :g",
                             {":sending": "sending", ":g": gen, ":pending": "pending", ":due": due, ":one": 1},
                             "SET #s = :pending, due = :due ADD gen :one")
            is not None
        )  # fmt: skip

    # ---- anniversary index ----
    def index_celebrant(self, app_id: str, attribute: str, month_day: str, zone: str, device_id: str) -> None:
        aws.retried(
            self._table.put_item,
            Item={"pk": f"anniv#{app_id}#{attribute}#{month_day}", "sk": f"{zone}#{device_id}",
                  "zone": zone, "device_id": device_id},
        )  # fmt: skip

    def unindex_celebrant(
        self, app_id: str, attribute: str, month_day: str, zone: str, device_id: str
    ) -> None:
        aws.retried(
            self._table.delete_item,
            Key={"pk": f"anniv#{app_id}#{attribute}#{month_day}", "sk": f"{zone}#{device_id}"},
        )

    def celebrants(
        self, app_id: str, attribute: str, month_day: str, zone: str | None = None
    ) -> list[dict[str, Any]]:
        return list(self._query(f"anniv#{app_id}#{attribute}#{month_day}", f"{zone}#" if zone else None))

    # ---- indexing a newly declared date attribute ----
    def start_indexing(self, app_id: str, attribute: str, job_id: str) -> None:
        aws.retried(self._table.put_item, Item={"pk": f"dateindex#{app_id}", "sk": attribute, "job_id": job_id,
                                                 "status": "running"})  # fmt: skip

    def finish_indexing(self, app_id: str, attribute: str, job_id: str) -> None:
        """The job's last step: its index is complete (unless a later job of the attribute took over)."""
        aws.conditional(
            self._table.update_item, Key={"pk": f"dateindex#{app_id}", "sk": attribute},
            UpdateExpression="SET #s = :done", ConditionExpression="job_id = :j",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":done": "completed", ":j": job_id},
        )  # fmt: skip

    def indexing(self, app_id: str, attribute: str) -> dict[str, Any] | None:
        key = {"pk": f"dateindex#{app_id}", "sk": attribute}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item is not None else None

    # ---- planned occurrence waves ----
    def mark_planned(self, app_id: str, campaign_id: str, run: str, wave_id: str) -> bool:
        """True the first time this wave of this run is planned."""
        return aws.conditional(
            self._table.put_item,
            Item={"pk": f"planned#{app_id}#{campaign_id}", "sk": f"{run}#{wave_id}",
                  "expires_at": int(time.time()) + 60 * 86400},
            ConditionExpression="attribute_not_exists(pk)",
        )  # fmt: skip

    def unmark_planned(self, app_id: str, campaign_id: str, run: str, wave_id: str) -> None:
        """An occurrence wave an edit took back (its schedule deleted): it may be planned again."""
        aws.retried(self._table.delete_item, Key={"pk": f"planned#{app_id}#{campaign_id}", "sk": f"{run}#{wave_id}"})

    def planned(self, app_id: str, campaign_id: str) -> list[dict[str, Any]]:
        return list(self._query(f"planned#{app_id}#{campaign_id}"))
