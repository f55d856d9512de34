"""Audience pages decoded in one pass (dal.aws.item_reader): the same Python values as boto3's
TypeDeserializer gives, for every DynamoDB type."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from pushengine.dal import aws

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
    serialized = TypeSerializer().serialize(value)
    return _b64(serialized)


def _b64(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (base64.b64encode(v).decode() if k == "B" else
                    [base64.b64encode(b).decode() for b in v] if k == "BS" else _b64(v))
                for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_b64(v) for v in node]
    return node


@given(_values)
def test_decoded_as_the_type_deserializer_decodes(value: Any) -> None:
    wire = _wire(value)
    expected = TypeDeserializer().deserialize(TypeSerializer().serialize(value))
    decoded = aws.python_value(wire)
    assert decoded == expected
    assert type(decoded) is type(expected)
