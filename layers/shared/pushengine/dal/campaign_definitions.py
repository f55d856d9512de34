"""The campaigns table: each campaign's definition (name, spec, waves), written once or by an edit.

A definition can be many KB and changes only by an edit (`replace`, which `dal.campaigns` follows with a new
`revision` on the progress item): each container reads it once and keeps it. Direct messages (`msg_...`)
share the table and are never listed. The campaign as a whole (definition and progress) is
`dal.campaigns.CampaignsRepository`'s.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.expressions import serialize
from pushengine.dal.numbers import from_dynamo, to_dynamo
from pushengine.models import CampaignSpec

CACHED = 256  # definitions a container keeps


def parsed(definition: dict[str, Any]) -> dict[str, Any]:
    """A definition as read (plain values) with its `spec` parsed: the one place a stored spec is read."""
    return {**definition, "spec": CampaignSpec.model_validate(definition["spec"])}


class CampaignDefinitions:
    """The campaigns table's items, keyed by (app_id, campaign_id), read through a per-container cache."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._table = aws.table(table_name)
        self._cached: dict[tuple[str, str], dict[str, Any]] = {}
        self._reading = threading.Lock()

    def put_new(self, definition: dict[str, Any]) -> dict[str, Any]:
        """The transaction item that writes a new definition (failing if the campaign exists)."""
        return {"Put": {"TableName": self.table_name, "Item": serialize(definition),
                        "ConditionExpression": "attribute_not_exists(campaign_id)"}}  # fmt: skip

    def put_existing(self, definition: dict[str, Any]) -> dict[str, Any]:
        """The transaction item that writes over an existing definition (`forget` the cached one after)."""
        return {"Put": {"TableName": self.table_name, "Item": serialize(definition),
                        "ConditionExpression": "attribute_exists(campaign_id)"}}  # fmt: skip

    def get(self, app_id: str, campaign_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        """The definition, parsed, read once per container (the batches of one invocation ask at once: one
        read serves them all)."""
        key = (app_id, campaign_id)
        if key in self._cached:
            return self._cached[key]
        with self._reading:
            if key in self._cached:
                return self._cached[key]
            found = self._table.get_item(
                Key={"app_id": app_id, "campaign_id": campaign_id}, ConsistentRead=consistent
            ).get("Item")
            if found is None:
                return None
            if len(self._cached) >= CACHED:
                self._cached.pop(next(iter(self._cached)))
            self._cached[key] = definition = parsed(from_dynamo(found))
            return definition

    def forget(self, app_id: str, campaign_id: str) -> None:
        """Drop the cached definition: the next `get` reads it again."""
        self._cached.pop((app_id, campaign_id), None)

    def page(
        self, app_id: str, *, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the app's campaign definitions, newest first, parsed; and the next page's token."""
        kwargs: dict[str, Any] = {
            # direct messages (msg_...) share the table and sort after every campaign id: left out
            "KeyConditionExpression": Key("app_id").eq(app_id) & Key("campaign_id").lt("msg_"),
            "ScanIndexForward": False,  # ids sort by creation time: newest first
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = {"app_id": app_id, "campaign_id": _decode_token(next_token)}
        page = self._table.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return [parsed(from_dynamo(i)) for i in page["Items"]], (_encode_token(last["campaign_id"]) if last else None)

    def replace(self, definition: dict[str, Any]) -> None:
        """An edit written over the existing definition; the cached one is dropped."""
        aws.retried(
            self._table.put_item, Item=to_dynamo(definition), ConditionExpression="attribute_exists(campaign_id)"
        )
        self.forget(definition["app_id"], definition["campaign_id"])


def _encode_token(campaign_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"c": campaign_id}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    from pushengine.errors import InvalidInput

    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return str(value["c"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("malformed pagination token", field="next_token") from exc
