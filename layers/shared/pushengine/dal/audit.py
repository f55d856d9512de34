"""The audit table: one item per recorded request, per app (partition `app_id`), newest first by `sk`
(`at#<random>`), gone after `expires_at` (TTL)."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from pushengine.audit import RETENTION_DAYS
from pushengine.dal import aws
from pushengine.dal.numbers import from_dynamo
from pushengine.errors import InvalidInput

GLOBAL = "_admin"  # the partition of what the admin key does outside any app (creating apps)


class AuditRepository:
    def __init__(self, table_name: str) -> None:
        self._table = aws.table(table_name)

    def put(self, app_id: str | None, entry: dict[str, Any], at: datetime) -> None:
        expires = int((at + timedelta(days=RETENTION_DAYS)).timestamp())
        item = {"app_id": app_id or GLOBAL, "sk": f"{entry['at']}#{secrets.token_hex(4)}",
                "expires_at": expires, **entry}  # fmt: skip
        aws.retried(self._table.put_item, Item=item)

    def page(self, app_id: str, *, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "app_id = :a",
            "ExpressionAttributeValues": {":a": app_id},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = {"app_id": app_id, "sk": _decode(next_token)}
        page = self._table.query(**kwargs)
        entries = [{k: v for k, v in from_dynamo(item).items() if k not in ("app_id", "sk", "expires_at")}
                   for item in page.get("Items", [])]  # fmt: skip
        last = page.get("LastEvaluatedKey")
        return entries, (_encode(str(last["sk"])) if last else None)


def _encode(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": sk}).encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return str(value["s"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("malformed pagination token", field="next_token") from exc
