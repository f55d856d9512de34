"""Import and export jobs: one progress item each in the delivery-state table, and a ledger item per step
so a redelivered step never counts twice."""

from __future__ import annotations

import time
from typing import Any

from pushengine.dal import aws
from pushengine.dal.apps import now_iso
from pushengine.dal.expressions import serialize
from pushengine.dal.numbers import from_dynamo

JOB_DAYS = 7
MAX_ERRORS = 100  # the first errors are kept, with their line numbers


def _expires() -> int:
    return int(time.time()) + JOB_DAYS * 86400


class JobsRepository:
    def __init__(self, delivery_state_table: str) -> None:
        self._table = aws.table(delivery_state_table)
        self._name = delivery_state_table

    @staticmethod
    def key(kind: str, app_id: str, job_id: str) -> str:
        return f"{kind}#{app_id}#{job_id}"

    def create(self, kind: str, app_id: str, job_id: str, fields: dict[str, Any]) -> None:
        aws.retried(self._table.put_item, Item={"pk": self.key(kind, app_id, job_id), "status": "running",
                                                 "created_at": now_iso(), "expires_at": _expires(), **fields})  # fmt: skip

    def get(self, kind: str, app_id: str, job_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": self.key(kind, app_id, job_id)}, ConsistentRead=True).get(
            "Item"
        )
        return {k: from_dynamo(v) for k, v in item.items() if k not in ("pk", "expires_at")} if item else None

    def step(self, kind: str, app_id: str, job_id: str, step: str, *, add: dict[str, int],
             errors: list[dict[str, Any]] | None = None, done: dict[str, Any] | None = None) -> bool:  # fmt: skip
        """Count one step's work once (False if this step was already counted): ADD the counters,
        append its errors while fewer than MAX_ERRORS are kept, SET `done` fields (status, total...)."""
        key = self.key(kind, app_id, job_id)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = ["updated_at = :t"]
        values[":t"] = now_iso()
        adds = []
        for i, (name, n) in enumerate(add.items()):
            names[f"#a{i}"], values[f":a{i}"] = name, n
            adds.append(f"#a{i} :a{i}")
        for i, (name, value) in enumerate((done or {}).items()):
            names[f"#d{i}"], values[f":d{i}"] = name, value
            sets.append(f"#d{i} = :d{i}")
        if errors:
            current = self.get(kind, app_id, job_id) or {}
            room = MAX_ERRORS - len(current.get("errors") or [])
            if room > 0:
                sets.append("errors = list_append(if_not_exists(errors, :none), :errs)")
                values[":none"], values[":errs"] = [], errors[:room]
        update = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        return aws.transact([
            {"Put": {"TableName": self._name, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": serialize({"pk": f"{key}#step#{step}", "expires_at": _expires()})}},
            {"Update": {"TableName": self._name, "Key": serialize({"pk": key}), "UpdateExpression": update,
                        "ExpressionAttributeValues": serialize(values),
                        **({"ExpressionAttributeNames": names} if names else {})}},
        ], guard=0)  # fmt: skip
