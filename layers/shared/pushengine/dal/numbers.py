"""DynamoDB wants Decimal, JSON wants int/float: convert at the edge only. `attribute` writes a value in
DynamoDB's wire format directly (bulk writes skip boto3's per-attribute type dispatch)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [from_dynamo(v) for v in value]
    return value


def attribute(value: Any) -> dict[str, Any]:
    """A JSON-like value (Decimal and float numbers too) as a DynamoDB AttributeValue."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, dict):
        return {"M": {k: attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [attribute(v) for v in value]}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")
