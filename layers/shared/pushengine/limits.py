"""Bounds input must keep before it is stored, each defined once: request bodies, and what DynamoDB holds.

DynamoDB numbers: magnitude 1E-130 to 9.9999999999999999999999999999999999999E+125 (or zero), at most
38 significant digits; an item is at most 400 KB, counted as the UTF-8 bytes of attribute names plus
their values (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import AfterValidator, ConfigDict

Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)  # every API body: unknown fields are refused

MAX_BODY_BYTES = (
    512 * 1024
)  # a request body; larger answers 413 (above the 400 KB item, so the item check can speak)
MAX_JSON_DEPTH = 32  # nesting of a request body (a 10-level audience filter needs about 22)
DYNAMO_MAX_ITEM_BYTES = 400 * 1024
DYNAMO_MAX_DIGITS = 38
DYNAMO_MIN_EXPONENT = -130  # adjusted exponent (position of the first significant digit)
DYNAMO_MAX_EXPONENT = 125

T = TypeVar("T")
_OUT_OF_RANGE = "out of range: a number's magnitude must be 0 or between 1e-130 and 9.99e125"


def _decimal(value: int | float | Decimal) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _significant_digits(number: Decimal) -> int:
    # Not Decimal.normalize(): it rounds to the context's 28 digits.
    return len(bytes(number.as_tuple().digits).rstrip(b"\0"))


def number_problem(value: Any) -> str | None:
    """Why DynamoDB cannot store this number (None when it can, or when the value is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    number = _decimal(value)
    if not number.is_finite():
        return "must be a finite number"
    if number.is_zero():
        return None
    if _significant_digits(number) > DYNAMO_MAX_DIGITS:
        return f"has more than {DYNAMO_MAX_DIGITS} significant digits"
    if not DYNAMO_MIN_EXPONENT <= number.adjusted() <= DYNAMO_MAX_EXPONENT:
        return _OUT_OF_RANGE
    return None


def storable(value: T) -> T:
    """Pass a value DynamoDB can hold; a number it cannot raises ValueError with the reason."""
    problem = number_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Pydantic metadata: Annotated[float, Storable] (or over a union of scalars) refuses what DynamoDB cannot hold.
Storable = AfterValidator(storable)


def _number_size(value: int | float | Decimal) -> int:
    digits = _significant_digits(_decimal(value))
    return (digits + 1) // 2 + 1  # one byte per two significant digits, plus one


def value_size(value: Any) -> int:
    """Bytes DynamoDB counts for one attribute value (its name not included)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        return _number_size(value)
    if isinstance(value, Mapping):  # 3 bytes for the map, 1 per element, plus each element's name and value
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + value_size(v) for v in value)
    if isinstance(value, set | frozenset):
        return sum(value_size(v) for v in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it against the 400 KB limit: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def heaviest_part(value: Any, path: str) -> tuple[str, int]:
    """Where most of a value's stored size sits: descend into the largest child while it holds at least
    half of its parent, so the answer names the one thing to shorten (a map of 200 translations, not one)."""
    size = value_size(value)
    children: dict[str, Any] = {}
    if isinstance(value, Mapping):
        children = {f"{path}.{k}": v for k, v in value.items()}
    elif isinstance(value, list | tuple):
        children = {f"{path}.{i}": v for i, v in enumerate(value)}
    if children:
        name, child = max(children.items(), key=lambda kv: value_size(kv[1]))
        if 2 * value_size(child) >= size:
            return heaviest_part(child, name)
    return path, size


# An inline device import (JSONL or CSV): under Lambda's 6 MB synchronous payload once base64-encoded by
# API Gateway; larger files go through S3 (`{"s3_uri"}`).
MAX_IMPORT_BODY_BYTES = 4 * 1024 * 1024
