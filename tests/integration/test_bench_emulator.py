"""The bench's index Query (bench.emulator) answers exactly what moto's own query answers.

Generated tables (ties on the index sort key, items missing an index key, several partitions, numbers
equal in value but not in spelling, items big enough to end a page at moto's 1 MB) are queried through
both, page by page to the end: the same items in the same order (projected as the index projects them),
the same counts, the same LastEvaluatedKey. Queries the shortcut does not claim go to moto's query.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from bench import emulator

pytestmark = pytest.mark.integration

_before = Table.query
emulator.install_index_queries()
SHORTCUT = Table.query
Table.query = _before  # type: ignore[method-assign]  # the bench's query in this module's tests only
BACKEND = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
AUDS = ["app#Europe/Paris", "app#Asia/Tokyo", "other#Europe/Paris"]
ARKS = ["0a#d1", "0a#d2", "0a$", "1f", "1f#d3", "7c#d4", "ff"]  # drawn with replacement: ties
GROUPS = ["1", "1.0", "2", "-3"]  # "1" and "1.0" are one number
RANKS = ["-1", "0", "0.0", "2", "10", "1E+1"]
COMPARISONS = ["=", "<", "<=", ">", ">=", "BETWEEN", "BEGINS_WITH"]
# index -> (hash attribute, its type, its values; range attribute, its values)
INDEXES = {
    "audience": ("aud", "S", AUDS, "ark", ARKS),  # what DevicesRepository.partition_page queries
    "user": ("user_key", "S", ["app#u1", "app#u2"], "device_id", ["a", "b", "b#", "c"]),  # KEYS_ONLY
    "score": ("grp", "N", GROUPS, "rank", RANKS),  # INCLUDE, number keys
}
_names = itertools.count()


def create_table(composite: bool = False) -> str:
    """The devices table's shape (hash key `pk`), with GSIs of every projection and a hash-only GSI."""
    name = f"bench-emulator-{next(_names)}"
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = ["pk", "aud", "ark", "user_key", "device_id"]
    if composite:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append("sk")
    definitions = [{"AttributeName": a, "AttributeType": "S"} for a in attrs]
    definitions += [{"AttributeName": a, "AttributeType": "N"} for a in ("grp", "rank")]

    def keys(hash_attr: str, range_attr: str | None = None) -> list[dict[str, str]]:
        out = [{"AttributeName": hash_attr, "KeyType": "HASH"}]
        return out + ([{"AttributeName": range_attr, "KeyType": "RANGE"}] if range_attr else [])

    gsis = [
        {"IndexName": "audience", "KeySchema": keys("aud", "ark"), "Projection": {"ProjectionType": "ALL"}},
        {"IndexName": "user", "KeySchema": keys("user_key", "device_id"),
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
        {"IndexName": "score", "KeySchema": keys("grp", "rank"),
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["flag"]}},
        {"IndexName": "flat", "KeySchema": keys("aud"), "Projection": {"ProjectionType": "ALL"}},
    ]  # fmt: skip
    lsis = [{"IndexName": "local", "KeySchema": keys("pk", "ark"), "Projection": {"ProjectionType": "ALL"}}]
    BACKEND.create_table(name, schema=schema, throughput=None, attr=definitions, global_indexes=gsis,
                         indexes=lsis if composite else None, streams=None, billing_mode="PAY_PER_REQUEST",
                         sse_specification=None, tags=[], deletion_protection_enabled=False,
                         warm_throughput=None)  # fmt: skip
    return name


@contextmanager
def table_of(items: list[dict[str, Any]], composite: bool = False) -> Iterator[str]:
    name = create_table(composite)
    try:
        for item in items:
            BACKEND.put_item(name, item)
        yield name
    finally:
        BACKEND.delete_table(name)


@pytest.fixture(autouse=True, scope="module")
def bench_query() -> Iterator[None]:
    before = Table.query
    Table.query = SHORTCUT  # type: ignore[method-assign]
    yield
    Table.query = before  # type: ignore[method-assign]


@contextmanager
def moto_query() -> Iterator[None]:
    """moto's own Table.query in place of the bench's."""
    patched = Table.query
    Table.query = emulator.ORIGINAL["query"]  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = patched  # type: ignore[method-assign]


@contextmanager
def shortcut_calls() -> Iterator[mock.MagicMock]:
    with mock.patch.object(emulator, "_index_query", wraps=emulator._index_query) as spy:
        yield spy


def json_of(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_of(v) for k, v in value.items()}
    return value.to_json()


def read_all(table: str, query: dict[str, Any]) -> Any:
    """Every page of a query, following LastEvaluatedKey as a client does (or how it failed)."""
    pages = []
    start = query.get("start")
    try:
        for _ in range(100):
            items, scanned, last = BACKEND.query(
                table, query["hash"][0][1], query.get("op"), query.get("values", []), query.get("limit"),
                start, query.get("forward", True), query.get("projection"), query.get("index"),
                query.get("consistent", False), query.get("names"), query.get("expr_values"),
                query.get("filter"), hash_key_conditions=query["hash"],
                range_key_conditions=query.get("range"), **query.get("filter_kwargs", {}),
            )  # fmt: skip
            pages.append(([i.to_json() for i in items], scanned, last and json_of(last)))
            if last is None:
                return ("ok", pages)
            start = json_of(last)
        return ("unfinished", pages)
    except Exception as exc:  # both sides must fail the same way
        return ("raised", type(exc), pages)


def answers(table: str, query: dict[str, Any]) -> tuple[Any, Any, int]:
    with shortcut_calls() as spy:
        bench = read_all(table, query)
    with moto_query():
        moto = read_all(table, query)
    return bench, moto, spy.call_count


def big(size: int) -> dict[str, Any]:
    return {"payload": {"S": "x" * size}} if size else {}


@st.composite
def devices(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 24))
    ids = draw(st.permutations(range(count)))  # stored in any order
    items = []
    for i in ids:
        item: dict[str, Any] = {"pk": {"S": f"d{i:02d}"}}
        for hash_attr, kind, hashes, range_attr, ranges in INDEXES.values():
            if draw(st.integers(0, 9)):  # some items miss an index key
                item[hash_attr] = {kind: draw(st.sampled_from(hashes))}
            if draw(st.integers(0, 9)):
                item[range_attr] = {kind: draw(st.sampled_from(ranges))}
        if draw(st.booleans()):
            item["flag"] = {"BOOL": draw(st.booleans())}
        item.update(big(draw(st.sampled_from([0, 0, 0, 0, 0, 0, 100, 300_000]))))
        items.append(item)
    return items


@st.composite
def queries(draw: st.DrawFn, items: list[dict[str, Any]]) -> dict[str, Any]:
    index = draw(st.sampled_from(sorted(INDEXES)))
    hash_attr, kind, hashes, range_attr, ranges = INDEXES[index]
    wanted = draw(st.sampled_from(hashes + (["9"] if kind == "N" else ["nobody"])))
    query: dict[str, Any] = {
        "index": index, "hash": [(hash_attr, {kind: wanted})], "limit": draw(st.sampled_from([None, 1, 2, 3, 7])),
        "forward": draw(st.booleans()),
    }  # fmt: skip
    op = draw(st.sampled_from([None, *COMPARISONS]))
    if op:
        values = [{kind: draw(st.sampled_from(ranges))} for _ in range(2 if op == "BETWEEN" else 1)]
        if op == "BEGINS_WITH" and kind == "S":  # prefixes too
            values = [{"S": draw(st.sampled_from(ranges))[: draw(st.integers(0, 3))]}]
        if op != "BEGINS_WITH" or kind == "S":
            query.update(op=op, values=values, range=[(range_attr, op, values)])
    condition = draw(st.sampled_from([None, "attribute_exists(flag)", "flag = :t"]))
    if condition:
        query["filter"] = condition
        query["expr_values"] = {":t": {"BOOL": True}} if ":t" in condition else {}
    if draw(st.booleans()):  # a first page that starts after an item of the partition, or after any key
        keyed = [i for i in items if hash_attr in i and range_attr in i and i[hash_attr][kind] == wanted]
        if keyed and draw(st.booleans()):
            after = draw(st.sampled_from(keyed))
            query["start"] = {a: after[a] for a in ("pk", hash_attr, range_attr)}
        else:
            query["start"] = {"pk": {"S": f"d{draw(st.integers(0, 25)):02d}"}, hash_attr: {kind: wanted},
                              range_attr: {kind: draw(st.sampled_from(ranges))}}  # fmt: skip
    return query


@given(data=st.data(), items=devices())
def test_index_queries_answer_as_moto_answers_them(data: st.DataObject, items: list[dict[str, Any]]) -> None:
    with table_of(items) as table:
        for _ in range(4):
            query = data.draw(queries(items))
            bench, moto, calls = answers(table, query)
            assert bench == moto, query
            assert calls > 0, "the shortcut answered"


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [None, 2, 3])
@pytest.mark.parametrize(
    "op, values", [(None, []), ("BETWEEN", ["1", "4"]), ("<", ["4"]), (">", ["1"]), ("BEGINS_WITH", ["3"])]
)
def test_pages_end_where_moto_ends_them(
    forward: bool, limit: int | None, op: str | None, values: list[str]
) -> None:
    """Items of ~300 KB in one partition: a page ends at moto's 1 MB (counting an item out of the sort-key
    range, after the range, as moto does) or at its Limit."""
    items = [{"pk": {"S": f"d{i}"}, "aud": {"S": "a"}, "ark": {"S": ark}, **big(size)}
             for i, (ark, size) in enumerate([("0", 300_000), ("1", 300_000), ("2", 350_000), ("2", 380_000),
                                              ("3", 300_000), ("3#x", 100), ("4", 390_000), ("5", 390_000),
                                              ("6", 10)])]  # fmt: skip
    query: dict[str, Any] = {
        "index": "audience",
        "hash": [("aud", {"S": "a"})],
        "limit": limit,
        "forward": forward,
    }
    if op:
        typed = [{"S": v} for v in values]
        query.update(op=op, values=typed, range=[("ark", op, typed)])
    with table_of(items) as table:
        bench, moto, calls = answers(table, query)
    assert bench == moto
    assert calls > 0


OTHERS = {
    "a projection expression": {"projection": [["pk"], ["ark"]]},
    "a consistent read": {"consistent": True},
    "a legacy QueryFilter": {"filter_kwargs": {"flag": {"ComparisonOperator": "EQ",
                                                        "AttributeValueList": [{"BOOL": True}]}}},
    "an index without a sort key": {"index": "flat"},
    "the table itself": {"index": None, "hash": [("pk", {"S": "d01"})]},
}  # fmt: skip


@pytest.mark.parametrize("other", sorted(OTHERS))
def test_other_queries_go_to_moto(other: str) -> None:
    items = [{"pk": {"S": f"d{i:02d}"}, "aud": {"S": "a"}, "ark": {"S": str(i % 3)}, "flag": {"BOOL": i % 2 == 0}}
             for i in range(9)]  # fmt: skip
    query = {"index": "audience", "hash": [("aud", {"S": "a"})], "limit": 2, **OTHERS[other]}
    with table_of(items) as table:
        bench, moto, calls = answers(table, query)
    assert bench == moto
    assert calls == 0


@pytest.mark.parametrize("index", ["audience", "local"])
def test_a_table_with_a_sort_key_goes_to_moto(index: str) -> None:
    items = [{"pk": {"S": f"d{i % 2}"}, "sk": {"S": f"s{i}"}, "aud": {"S": "a"}, "ark": {"S": str(i % 3)}}
             for i in range(8)]  # fmt: skip
    hash_ = [("aud", {"S": "a"})] if index == "audience" else [("pk", {"S": "d0"})]
    query = {"index": index, "hash": hash_, "limit": 2, "op": ">=", "values": [{"S": "1"}],
             "range": [("ark", ">=", [{"S": "1"}])]}  # fmt: skip
    with table_of(items, composite=True) as table:
        bench, moto, calls = answers(table, query)
    assert bench == moto
    assert bench[0] == "ok"
    assert calls == 0


def test_the_engine_s_partition_reads_take_the_shortcut_and_read_what_moto_reads(
    names: dict[str, str],
) -> None:
    """DevicesRepository.partition_page over key ranges, through the wire format, on the template's table."""
    from pushengine import readplan
    from pushengine.dal.devices import DevicesRepository

    devices = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 16)
    for i in range(40):
        devices.put("app", f"d{i}", {"platform": "android", "token": "t" * 40, "timezone": "Europe/Paris",
                                     "opted_in": True})  # fmt: skip

    def read(key_range: readplan.KeyRange | None) -> list[list[str]]:
        pages, start = [], None
        while True:
            items, start = devices.partition_page("app", "Europe/Paris", key_range, limit=4, start=start)
            pages.append([i["device_id"] for i in items])
            if start is None:
                return pages

    ranges = [None, *(readplan.key_range(i, 3) for i in range(3))]
    with shortcut_calls() as spy, mock.patch.object(DevicesRepository, "_query", autospec=True,
                                                    side_effect=DevicesRepository._query) as queries:  # fmt: skip
        bench = [read(r) for r in ranges]
    with moto_query():
        moto = [read(r) for r in ranges]
    assert bench == moto
    assert spy.call_count == queries.call_count > sum(len(pages) for pages in bench)  # every Query of each bucket
    assert sorted(d for pages in bench[1:] for page in pages for d in page) == sorted(
        f"d{i}" for i in range(40)
    )
