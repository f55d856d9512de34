"""DynamoDB update expressions built in one place, for TransactWriteItems (the low-level client's types).

Every attribute name is aliased (stat names such as "deferred" are reserved words) and every number is
converted for DynamoDB (floats as Decimal)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from pushengine.dal.numbers import to_dynamo

Path = tuple[str, ...]  # an attribute, or a key inside a map attribute: ("stats", "sent")


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or key, or values) in the low-level client's typed form."""
    ser = TypeSerializer()
    return {k: ser.serialize(to_dynamo(v)) for k, v in item.items()}


def add_update(
    table: str, key: Mapping[str, Any], deltas: Iterable[tuple[Path, int | float]]
) -> dict[str, Any] | None:
    """A TransactWriteItems `Update` that ADDs each non-zero delta at its path (a path inside a map needs the
    map to exist), or None when there is nothing to add."""
    aliases: dict[str, str] = {}
    adds: list[str] = []
    values: dict[str, int | float] = {}
    for path, delta in deltas:
        if not delta:
            continue
        value = f":v{len(adds)}"
        adds.append(".".join(aliases.setdefault(name, f"#n{len(aliases)}") for name in path) + " " + value)
        values[value] = delta
    if not adds:
        return None
    return {
        "Update": {
            "TableName": table,
            "Key": serialize(key),
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ExpressionAttributeNames": {alias: name for name, alias in aliases.items()},
            "ExpressionAttributeValues": serialize(values),
        }
    }
