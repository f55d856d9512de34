"""Stored messages (templates) in the audience table, under `template#<id>`."""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.apps import now_iso

TEMPLATE_PREFIX = "template#"


def _key(app_id: str, template_id: str) -> dict[str, str]:
    return {"app_id": app_id, "key": f"{TEMPLATE_PREFIX}{template_id}"}


def _view(item: dict[str, Any]) -> dict[str, Any]:
    return {"template_id": item["template_id"], "name": item["name"], "message": json.loads(item["message"]),
            "created_at": item["created_at"], "updated_at": item["updated_at"]}  # fmt: skip


class TemplatesRepository:
    def __init__(self, audience_table: str) -> None:
        self._table = aws.table(audience_table)

    def put(
        self, app_id: str, template_id: str, name: str, message: dict[str, Any], *, create: bool
    ) -> dict[str, Any] | None:
        """Create (False-y None if the id exists) or replace (None if it does not exist)."""
        stamp = now_iso()
        current = None if create else self.get(app_id, template_id)
        if not create and current is None:
            return None
        item = {**_key(app_id, template_id), "template_id": template_id, "name": name,
                "message": json.dumps(message, separators=(",", ":")),
                "created_at": current["created_at"] if current else stamp, "updated_at": stamp}  # fmt: skip
        condition = "attribute_not_exists(#k)" if create else "attribute_exists(#k)"
        if not aws.conditional(self._table.put_item, Item=item, ConditionExpression=condition,
                               ExpressionAttributeNames={"#k": "key"}):  # fmt: skip
            return None
        return _view(item)

    def get(self, app_id: str, template_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=_key(app_id, template_id), ConsistentRead=True).get("Item")
        return _view(item) if item else None

    def all(self, app_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("app_id").eq(app_id) & Key("key").begins_with(TEMPLATE_PREFIX)
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**kwargs)
            found += [_view(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete(self, app_id: str, template_id: str) -> bool:
        return aws.conditional(self._table.delete_item, Key=_key(app_id, template_id),
                               ConditionExpression="attribute_exists(#k)",
                               ExpressionAttributeNames={"#k": "key"})  # fmt: skip
