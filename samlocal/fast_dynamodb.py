"""Where moto's DynamoDB spends time the service does not: the same answers, without the extra work.

An import of 20,000 devices on the local stack spent most of its CPU in moto, not in the engine (py-spy):

- **Items.** moto's `Item` adds attributes one at a time to a dict that re-sums the size of every attribute
  already in it on each addition (quadratic in the attribute count). `item_init` sums once, in the same
  order, and refuses at the same running total (moto's 405,000 bytes) with the same `ItemSizeTooLarge`.
- **Request parsing.** moto rebuilds every request from its JSON through a generic, shape-driven parser,
  attribute value by attribute value. For an AttributeValue that parser returns exactly the JSON it was
  given when the value has one key among `S N BOOL NULL SS NS M L` and the JSON type that key's shape
  has (recursively): such values, and maps of them, are taken as they are. Anything else (binary `B`/`BS`,
  which the parser base64-decodes; two keys, which it reorders; an unknown key, which it drops; a null;
  a number where a string belongs) goes through moto's parser as before.
- **Parsing twice.** The front door (strict.py) parses every DynamoDB body to enforce AWS's limits; it
  leaves its parse in the request's environ under `PARSED`, and moto's parser starts from it instead
  of parsing the same bytes again (the body moto would read is that parse, serialized).
- **Answers.** moto serializes an answer through the same generic serializer, although its items already
  are DynamoDB's JSON; a map of such plain attribute values is written as it is.

`tests/integration/test_fast_dynamodb.py` holds each fast path against moto's own on the same inputs,
edge cases included. Installed by `LocalRuntime` with `atomic_dynamodb` (process-wide, like moto's state).
"""

from __future__ import annotations

from typing import Any

PARSED = "samlocal.dynamodb_json"  # environ key: the body, already parsed (set by the front door)
_BOOLEANS = frozenset({"BOOL", "NULL"})
_SETS = frozenset({"SS", "NS"})


def plain_size(node: Any) -> int | None:
    """moto's `DynamoType(node).size()` when `node` is a plain AttributeValue, else None. Plain: the
    parser and serializer take it as it is: one key, and the JSON type that key's shape has (strings,
    booleans, lists of strings, maps and lists of plain values)."""
    if type(node) is not dict or len(node) != 1:
        return None
    ((kind, value),) = node.items()
    of = type(value)
    if kind == "S":
        return len(value.encode()) if of is str else None
    if kind == "N":
        return len(value) if of is str else None  # moto counts a number's characters
    if kind in _BOOLEANS:
        return 1 if of is bool else None
    if kind in _SETS:
        if of is not list or any(type(v) is not str for v in value):
            return None
        return sum(len(v.encode()) for v in value) if kind == "SS" else sum(len(v) for v in value)
    if kind == "M" and of is dict:
        total = 0
        for name, inner in value.items():
            size = plain_size(inner)
            if size is None:
                return None
            total += len(name.encode()) + size
        return total
    if kind == "L" and of is list:
        total = 0
        for inner in value:
            size = plain_size(inner)
            if size is None:
                return None
            total += size
        return total
    return None  # B and BS (base64 in JSON, bytes in moto), or no such type


def plain_value(node: Any) -> bool:
    return plain_size(node) is not None


def plain_map(shape: Any, value: Any) -> bool:
    """A map of AttributeValues (an item, a key, expression values) that moto would parse and serialize
    unchanged."""
    return (
        getattr(shape.value, "name", "") == "AttributeValue"
        and type(value) is dict
        and all(type(k) is str and plain_value(v) for k, v in value.items())
    )


def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """moto's `Item.__init__`, its size check summed once instead of once per attribute."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    values: dict[str, Any] = {}
    size = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        known = plain_size(value)
        size += bytesize(key) + (typed.size() if known is None else known)
        if size > 405_000:  # moto's limit, checked after each attribute as it does
            raise ItemSizeTooLarge
        values[key] = typed
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, values)  # later writes (update expressions) still go through its check


def dynamo_type_init(self: Any, type_as_dict: Any) -> None:
    """moto's `DynamoType.__init__` for the usual one-key value, without its two list copies."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if type(type_as_dict) is dict and len(type_as_dict) == 1:
        ((kind, value),) = type_as_dict.items()
    elif type(type_as_dict) is DynamoType:
        kind, value = type_as_dict.type, type_as_dict.value
    else:  # empty, several keys, not a dict: moto's own way (and its own error)
        ORIGINAL["dynamo_type_init"](self, type_as_dict)
        return
    self.type, self.value = kind, value
    if kind == "L":
        self.value = [DynamoType(v) for v in value]
    elif kind == "M":
        self.value = {k: DynamoType(v) for k, v in value.items()}


def parse_structure(self: Any, shape: Any, value: Any) -> Any:
    if shape.name == "AttributeValue" and plain_value(value):
        return value
    return ORIGINAL["parse_structure"](self, shape, value)


def parse_map(self: Any, shape: Any, value: Any) -> Any:
    if plain_map(shape, value):
        return value
    return ORIGINAL["parse_map"](self, shape, value)


def parse_parameters(self: Any, request: Any) -> None:
    """moto's `BaseResponse.parse_parameters`, starting from the front door's parse when there is one."""
    from moto.core.parse import JSONParser
    from moto.core.request import determine_request_protocol
    from moto.core.responses import get_service_model

    parsed = request.environ.get(PARSED) if self.boto3_service_name == "dynamodb" else None
    service = get_service_model("dynamodb") if parsed is not None else None
    if service is None or determine_request_protocol(service, request.content_type) != "json":
        ORIGINAL["parse_parameters"](self, request)
        return
    operation = service.operation_model(self._get_action())
    parser = JSONParser(operation, map_type=self.PROTOCOL_PARSER_MAP_TYPE)
    # what JSONParser.parse does with the body, minus its json.loads (no input shape: no parameters)
    self.params = parser._parse_shape(operation.input_shape, parsed) if operation.input_shape else {}


def serialize_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if plain_map(shape, value):
        self._default_serialize(serialized, value, shape, key)
    else:
        ORIGINAL["serialize_map"](self, serialized, value, shape, key)


ORIGINAL: dict[str, Any] = {}  # moto's own methods, as they were before install (tests compare with them)


def _targets() -> dict[str, tuple[Any, str]]:
    from moto.core.parse import BaseJSONParser, RequestParser
    from moto.core.responses import BaseResponse
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    return {
        "item_init": (Item, "__init__"),
        "dynamo_type_init": (DynamoType, "__init__"),
        "parse_structure": (BaseJSONParser, "_parse_structure"),
        "parse_map": (RequestParser, "_parse_map"),
        "parse_parameters": (BaseResponse, "parse_parameters"),
        "serialize_map": (BaseJSONSerializer, "_serialize_type_map"),
    }


def install() -> None:
    """Put the fast paths in place (idempotent; process-wide, like moto's own state)."""
    if ORIGINAL:
        return
    from moto.core.parse import BaseJSONParser

    for name, (owner, attribute) in _targets().items():
        ORIGINAL[name] = getattr(owner, attribute)
    for name, (owner, attribute) in _targets().items():
        # the parsers' map handling is set on the JSON parser only (RequestParser's is shared with XML/query)
        setattr(BaseJSONParser if name == "parse_map" else owner, attribute, globals()[name])
