"""What a 100,000-device run needs from the embedded emulator (moto, in this process), for the bench only.

moto answers an index Query by sorting *every* item of the table and scanning it from the start (~38 s a
page at 100,000 devices here), and validates every attribute of every item it stores (~2 ms an item).
DynamoDB does neither, so both would measure the emulator, not the engine:

- `install_index_queries()`: an index Query with one key equality and an optional sort-key condition, no
  projection (what `DevicesRepository.partition_page` sends) selects its key range first and sorts
  only that, answering exactly what moto's own query answers (same order, page limits, LastEvaluatedKey,
  projected items). Anything else goes to moto's query as before.
- (answers written without moto's generic serializer: `samlocal.fast_dynamodb`, on every local stack.)
- `bulk_put()`: setup data stored straight into the emulator's table (the item moto's PutItem would store,
  without re-validating each attribute); requests the engine makes are untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from boto3.dynamodb.types import TypeSerializer

_serializer = TypeSerializer()
_installed = False
ORIGINAL: dict[str, Any] = {}  # the moto methods replaced here, by name (for tests against moto's own)


def _table(stack: Any, logical_id: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][stack.template.region].get_table(
        stack.table_name(logical_id)
    )


def bulk_put(stack: Any, logical_id: str, items: Iterable[Mapping[str, Any]]) -> int:
    """Store plain-Python items (as boto3's resource layer takes them) in one of the stack's tables."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    table = _table(stack, logical_id)
    assert table.range_key_attr is None, "bulk_put stores hash-keyed items only"
    count = 0
    for plain in items:
        attrs = {k: DynamoType(_serializer.serialize(v)) for k, v in plain.items()}
        item = Item.__new__(Item)
        item.hash_key, item.range_key = attrs[table.hash_key_attr], None
        item.attrs = LimitedSizeDict()
        dict.update(item.attrs, attrs)  # checked once here, not attribute by attribute
        table.items[item.hash_key] = item
        count += 1
    return count


def install() -> None:
    install_index_queries()


def install_index_queries() -> None:
    """Route simple index queries through `_index_query` (idempotent; process-wide, like moto's state)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.models.table import Table

    original = ORIGINAL.setdefault("query", Table.query)

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: int,
              exclusive_start_key: Any, scan_index_forward: bool, projection_expressions: Any,
              index_name: str | None = None, consistent_read: bool = False, filter_expression: Any = None,
              hash_key_conditions: Any = None, range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:  # fmt: skip
        simple = (index_name and not consistent_read and not projection_expressions and self.range_key_attr is None
                  and not filter_kwargs and hash_key_conditions and len(hash_key_conditions) == 1
                  and (not range_key_conditions or len(range_key_conditions) == 1))  # fmt: skip
        index = self.get_index(index_name) if simple else None
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"] if index else []
        if not simple or len(ranges) != 1 or index not in (self.global_indexes or []):
            return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, index_name, consistent_read,
                            filter_expression, hash_key_conditions, range_key_conditions, **filter_kwargs)  # fmt: skip
        results, scanned, last = _index_query(self, index, hash_key_conditions[0], ranges[0], range_comparison,
                                              range_objs, limit, exclusive_start_key, scan_index_forward)  # fmt: skip
        if filter_expression is not None:  # as moto does: after the page is cut
            results = [item for item in results if filter_expression.expr(item)]
        return results, scanned, last

    Table.query = query
    _installed = True


def _index_query(table: Any, index: Any, hash_condition: tuple[str, Any], range_attr: str,
                 comparison: str | None, objs: list[Any], limit: int, start: Mapping[str, Any] | None,
                 forward: bool) -> tuple[list[Any], int, dict[str, Any] | None]:  # fmt: skip
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    hash_attr, wanted = hash_condition
    hit, outside = [], []
    for item in table.items.values():  # a hash-keyed table: one item per key
        value = item.attrs.get(hash_attr)
        if value is None or value.type != wanted.type or (value.value != wanted.value
                                                          and (value.type != "N" or value != wanted)):  # fmt: skip
            continue  # (moto's equality: a number by its value, "1" = "1.0")
        key = item.attrs.get(range_attr)
        if key is None:  # not in the index (DynamoDB indexes items that have every key attribute)
            continue
        if comparison and not key.compare(comparison, objs):
            outside.append(item)  # in the partition, out of the key range: moto still walks past it
            continue
        hit.append(item)

    def order(item: Any) -> tuple[Any, Any]:
        # moto's order for a GSI: its sort key, then the table's key (ties of a non-unique index key)
        return item.attrs[range_attr], item.hash_key

    hit.sort(key=order, reverse=not forward)
    if start:
        from moto.dynamodb.models.dynamo_type import DynamoType

        after = (DynamoType(start[range_attr]), DynamoType(start[table.hash_key_attr]))
        hit = [i for i in hit if (order(i) > after) == forward and order(i) != after]
    results, size, last = [], 0, None
    for item in hit:
        if len(results) == limit or size + item.size() > RESULT_SIZE_LIMIT:
            last = table._get_last_evaluated_key(results[-1], index.name)
            break
        results.append(item)
        size += item.size()
    else:
        # The key range is one run of the partition in moto's order, and moto walks on past its end: an item
        # after it ends the page there (with a LastEvaluatedKey) when the page is full or would pass 1 MB.
        if results and any((order(i) > order(results[-1])) == forward
                           and (len(results) == limit or size + i.size() > RESULT_SIZE_LIMIT) for i in outside):  # fmt: skip
            last = table._get_last_evaluated_key(results[-1], index.name)
    return [index.project(copy.deepcopy(r)) for r in results], len(results), last
