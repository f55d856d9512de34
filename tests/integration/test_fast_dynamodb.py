"""samlocal's fast paths through moto's DynamoDB answer exactly what moto's own code answers.

Each fast path is compared with the moto method it replaces (kept in `fast_dynamodb.ORIGINAL`) on the same
input: generated AttributeValues (well-formed and not: binary, two keys, unknown types, nulls, wrong JSON
types), whole requests, items at moto's size limit. The door's hand-off of its parse is checked on a stack.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.core.parse import JSONParser
from moto.core.responses import get_service_model
from moto.core.serialize import JSONSerializer
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from samlocal import fast_dynamodb
from samlocal.fast_dynamodb import ORIGINAL

fast_dynamodb.install()
DYNAMODB = get_service_model("dynamodb")

text = st.text(max_size=6)
blob = st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())
scalar = st.one_of(text, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))


def attribute_values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Mostly well-formed AttributeValues, with every kind of malformed one the parser treats specially."""
    leaf = st.one_of(
        st.builds(lambda v: {"S": v}, text),
        st.builds(lambda v: {"N": v}, st.integers().map(str)),
        st.builds(lambda v: {"BOOL": v}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda v: {"SS": v}, st.lists(text, max_size=3)),
        st.builds(lambda v: {"NS": v}, st.lists(st.integers().map(str), max_size=3)),
        st.builds(lambda v: {"B": v}, blob),
        st.builds(lambda v: {"BS": v}, st.lists(blob, max_size=2)),
        # malformed: a null, two keys, an unknown type, a wrong JSON type, nothing at all
        st.builds(lambda k: {k: None}, st.sampled_from(["S", "N", "M", "L", "SS"])),
        st.builds(lambda a, b: {"S": a, "N": b}, text, st.integers().map(str)),
        st.builds(lambda v: {"X": v}, scalar),
        st.builds(lambda k, v: {k: v}, st.sampled_from(["S", "N", "SS", "M", "L", "BOOL"]), scalar),
        st.just({}),
    )
    if depth == 0:
        return leaf
    inner = attribute_values(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda m: {"M": m}, st.dictionaries(text, inner, max_size=3)),
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
    )


items = st.dictionaries(st.text(min_size=1, max_size=5), attribute_values(), max_size=5)


class MotoParser(JSONParser):
    """moto's own JSON request parser (the fast paths taken out)."""

    _parse_structure = ORIGINAL["parse_structure"]
    _parse_map = ORIGINAL["parse_map"]


class MotoSerializer(JSONSerializer):
    _serialize_type_map = ORIGINAL["serialize_map"]


def structure(value: Any) -> Any:
    """A DynamoType tree as plain data (DynamoType's own == casts values, and fails on malformed ones)."""
    if isinstance(value, DynamoType):
        return ("DynamoType", value.type, structure(value.value))
    if isinstance(value, dict):
        return {k: structure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [structure(v) for v in value]
    return value


def outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except Exception as exc:  # both sides must fail the same way
        return ("raised", type(exc))


def parse(parser: type[JSONParser], operation: str, body: dict[str, Any]) -> Any:
    model = DYNAMODB.operation_model(operation)
    request = {"method": "POST", "values": {}, "headers": {}, "body": json.dumps(body).encode(),
               "url_path": "/", "url_params": {}}  # fmt: skip
    return outcome(lambda: parser(model, map_type=dict).parse(request))


@given(item=items, value=attribute_values())
def test_requests_parse_as_moto_parses_them(item: dict[str, Any], value: Any) -> None:
    requests = [
        ("PutItem", {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}),
        (
            "BatchWriteItem",
            {"RequestItems": {"t": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": item}}]}},
        ),
        (
            "UpdateItem",
            {
                "TableName": "t",
                "Key": {"pk": {"S": "a"}},
                "UpdateExpression": "SET a = :v",
                "ExpressionAttributeValues": {":v": value},
            },
        ),
        (
            "Query",
            {
                "TableName": "t",
                "KeyConditionExpression": "pk = :v",
                "ExclusiveStartKey": item,
                "ExpressionAttributeValues": {":v": value},
                "Limit": 10,
                "Unmodelled": 1,
            },
        ),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t", "Item": item}}]}),
    ]
    for operation, body in requests:
        assert parse(JSONParser, operation, body) == parse(MotoParser, operation, body), operation


@given(item=items)
def test_items_are_built_and_sized_as_moto_builds_them(item: dict[str, Any]) -> None:
    def build(init: Any) -> Any:
        made = Item.__new__(Item)
        init(made, DynamoType({"S": "key"}), None, item)
        return structure(dict(made.attrs))

    assert outcome(lambda: build(fast_dynamodb.item_init)) == outcome(lambda: build(ORIGINAL["item_init"]))


@given(value=attribute_values())
def test_attribute_values_are_typed_as_moto_types_them(value: Any) -> None:
    def typed(init: Any) -> Any:
        made = DynamoType.__new__(DynamoType)
        init(made, value)
        return structure(made)

    assert outcome(lambda: typed(fast_dynamodb.dynamo_type_init)) == outcome(
        lambda: typed(ORIGINAL["dynamo_type_init"])
    )


@pytest.mark.parametrize("total", [404_999, 405_000, 405_001])
def test_the_size_limit_is_moto_s_to_the_byte(total: int) -> None:
    # names count: "a" + 1,000 + "b" + (total - 1,004) + "c" + "1" = total bytes
    item = {"a": {"S": "x" * 1000}, "b": {"S": "y" * (total - 1004)}, "c": {"N": "1"}}

    def build(init: Any) -> Any:
        init(Item.__new__(Item), DynamoType({"S": "k"}), None, item)
        return "stored"

    moto = outcome(lambda: build(ORIGINAL["item_init"]))
    assert outcome(lambda: build(fast_dynamodb.item_init)) == moto
    assert moto == (("raised", ItemSizeTooLarge) if total > 405_000 else ("ok", "stored"))


@given(item=items)
def test_answers_serialize_as_moto_serializes_them(item: dict[str, Any]) -> None:
    typed = outcome(lambda: {k: DynamoType(v).to_json() for k, v in item.items()})
    if typed[0] != "ok":
        return  # moto could not have stored it
    model = DYNAMODB.operation_model("GetItem")
    result = {"Item": typed[1]}
    fast = outcome(lambda: JSONSerializer(model).serialize(result)["body"])
    assert fast == outcome(lambda: MotoSerializer(model).serialize(result)["body"])


def test_moto_starts_from_the_front_doors_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the strict door, moto does not parse a DynamoDB body again (and answers as before)."""
    from samlocal.embedded_aws import EmbeddedAws

    calls: list[str] = []
    original = ORIGINAL["parse_parameters"]

    def counted(self: Any, request: Any) -> None:
        calls.append(self.boto3_service_name)
        original(self, request)

    monkeypatch.setitem(ORIGINAL, "parse_parameters", counted)
    server = EmbeddedAws(limits=True)
    server.start()
    try:
        import boto3

        dynamodb = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1",
                                aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
        dynamodb.create_table(TableName="handoff", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")  # fmt: skip
        calls.clear()
        dynamodb.put_item(TableName="handoff", Item={"pk": {"S": "a"}, "n": {"N": "1.5E+2"}})
        got = dynamodb.get_item(TableName="handoff", Key={"pk": {"S": "a"}})["Item"]
        dynamodb.delete_table(TableName="handoff")
    finally:
        server.stop()
    assert got == {"pk": {"S": "a"}, "n": {"N": "150"}}  # the door's rewrite is what moto stored
    assert calls == []
