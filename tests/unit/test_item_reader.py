"""Device items decoded in one pass (dal.aws.plain_value, behind item_reader and the batch reads): the values
boto3's TypeDeserializer gives, then numbers.from_dynamo (no Decimal left), for every DynamoDB type."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import example, given
from hypothesis import strategies as st

from pushengine.dal import aws
from pushengine.dal.numbers import from_dynamo

_numbers = st.decimals(min_value=Decimal("-1e20"), max_value=Decimal("1e20"), places=6, allow_nan=False)
_scalars = st.one_of(
    st.text(max_size=20), _numbers, st.booleans(), st.none(), st.binary(min_size=1, max_size=8)
)
_sets = st.one_of(
    st.sets(st.text(max_size=8), min_size=1, max_size=4),
    st.sets(_numbers, min_size=1, max_size=4),
    st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=4),
)
_values = st.recursive(
    st.one_of(_scalars, _sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _wire(value: Any) -> dict[str, Any]:
    """DynamoDB's JSON of a value, as the service sends it (binary base64-encoded)."""
    return _b64(TypeSerializer().serialize(value))


def _b64(attribute: dict[str, Any]) -> dict[str, Any]:
    """One AttributeValue, {type tag: value}, with its binaries base64-encoded: by the tag's position, as
    DynamoDB encodes them, so a map key named "B" or "BS" is a key like any other."""
    ((tag, value),) = attribute.items()
    if tag == "B":
        return {"B": base64.b64encode(value).decode()}
    if tag == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in value]}
    if tag == "M":
        return {"M": {k: _b64(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_b64(v) for v in value]}
    return attribute


def _reference(value: Any) -> Any:
    """TypeDeserializer's value through numbers.from_dynamo, sets as sorted lists."""
    if isinstance(value, set):
        return sorted(map(_reference, value), key=lambda v: v.value if isinstance(v, Binary) else v)
    if isinstance(value, dict):
        return {k: _reference(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reference(v) for v in value]
    return from_dynamo(value)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value)


@given(_values)
@example({"B": "text", "BS": {"L": [b"\x01"]}, "M": {"N": "1", "S": [True]}})  # map keys named like type tags
def test_decoded_as_the_type_deserializer_then_from_dynamo_decode(value: Any) -> None:
    expected = _reference(TypeDeserializer().deserialize(TypeSerializer().serialize(value)))
    decoded = aws.plain_value(_wire(value))
    assert decoded == expected
    assert _types(decoded) == _types(expected)  # no Decimal anywhere: 2 is an int, 2.5 a float


def test_numbers_as_dynamodb_writes_them() -> None:
    wire = {"M": {"n": {"N": "7"}, "f": {"N": "-0.25"}, "e": {"N": "1E+2"}, "big": {"N": "1" + "0" * 37}}}
    assert aws.plain_value(wire) == {"n": 7, "f": -0.25, "e": 100, "big": 10**37}
    assert _types(aws.plain_value(wire)) == {"n": int, "f": float, "e": int, "big": int}
