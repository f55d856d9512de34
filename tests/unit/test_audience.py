"""The audience filter language: matching tables, error paths, and matching that never raises."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushengine.audience import FilterError, parse_filter, validate_filter

pytestmark = pytest.mark.unit

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


DEVICE: dict[str, Any] = {
    "platform": "ios",
    "country": "US",
    "locale": "en-US",
    "timezone": "America/New_York",
    "opted_in": True,
    "last_seen": ago(days=3),
    "created_at": "2025-12-01T08:00:00Z",
    "user_id": "u-42",
    "tags": {
        "plan": "pro",
        "visits": 12,
        "beta": True,
        "score": Decimal("4.5"),
        "ratio": Decimal("1.1"),
        "zero": 0,
    },
    "attributes": {"first_name": "Ada", "birthday": "1990-05-01"},
}


def leaf(attr: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"attr": attr, "op": op} if value is None else {"attr": attr, "op": op, "value": value}


def with_(**changes: Any) -> dict[str, Any]:
    return {**DEVICE, **changes}


MATCHES = [
    # eq / ne on fields, tags and attributes
    ("platform eq", leaf("platform", "eq", "ios"), DEVICE, True),
    ("platform eq other", leaf("platform", "eq", "android"), DEVICE, False),
    ("platform ne other", leaf("platform", "ne", "android"), DEVICE, True),
    ("platform ne same", leaf("platform", "ne", "ios"), DEVICE, False),
    ("opted_in eq true", leaf("opted_in", "eq", True), DEVICE, True),
    ("opted_in eq false", leaf("opted_in", "eq", False), DEVICE, False),
    ("tag string", leaf("tags.plan", "eq", "pro"), DEVICE, True),
    ("tag number", leaf("tags.visits", "eq", 12), DEVICE, True),
    ("tag number as float", leaf("tags.visits", "eq", 12.0), DEVICE, True),
    ("tag number is not its string", leaf("tags.visits", "eq", "12"), DEVICE, False),
    ("tag bool", leaf("tags.beta", "eq", True), DEVICE, True),
    ("tag bool is not 1", leaf("tags.beta", "eq", 1), DEVICE, False),
    ("tag 0 is not false", leaf("tags.zero", "eq", False), DEVICE, False),
    ("tag decimal from dynamodb", leaf("tags.score", "eq", 4.5), DEVICE, True),
    # 1.1 has no exact binary form: Decimal("1.1") must still equal the JSON number 1.1
    ("tag inexact decimal eq", leaf("tags.ratio", "eq", 1.1), DEVICE, True),
    ("tag inexact decimal in", leaf("tags.ratio", "in", [1.1]), DEVICE, True),
    ("tag inexact decimal lt", leaf("tags.ratio", "lt", 1.1), DEVICE, False),
    ("tag inexact decimal gt", leaf("tags.ratio", "gt", 1.1), DEVICE, False),
    ("float device value", leaf("tags.ratio", "eq", Decimal("1.1")), with_(tags={"ratio": 1.1}), True),
    ("attribute eq", leaf("attributes.first_name", "eq", "Ada"), DEVICE, True),
    ("country eq is case-blind in the filter", leaf("country", "eq", "us"), DEVICE, True),
    # missing values: eq/in/gt/lt/within false, ne true, exists false
    ("missing tag eq", leaf("tags.nope", "eq", "x"), DEVICE, False),
    ("missing tag ne", leaf("tags.nope", "ne", "x"), DEVICE, True),
    ("missing tag in", leaf("tags.nope", "in", ["x"]), DEVICE, False),
    ("missing tag gt", leaf("tags.nope", "gt", 0), DEVICE, False),
    ("missing tag lt", leaf("tags.nope", "lt", 0), DEVICE, False),
    ("missing field within", leaf("last_seen", "within", "P7D"), with_(last_seen=None), False),
    ("no tags at all", leaf("tags.plan", "eq", "pro"), {"platform": "ios"}, False),
    ("tags not a mapping", leaf("tags.plan", "eq", "pro"), with_(tags=["plan"]), False),
    ("missing user_id ne", leaf("user_id", "ne", "u-1"), {"platform": "web"}, True),
    # in
    ("country in", leaf("country", "in", ["FR", "US"]), DEVICE, True),
    ("country not in", leaf("country", "in", ["FR", "DE"]), DEVICE, False),
    ("in with mixed types", leaf("tags.visits", "in", ["12", 12]), DEVICE, True),
    ("in bool is not in 1", leaf("tags.beta", "in", [1, 0]), DEVICE, False),
    # exists
    ("exists default true", leaf("user_id", "exists"), DEVICE, True),
    ("exists false on present", leaf("user_id", "exists", False), DEVICE, False),
    ("exists false on missing", leaf("tags.nope", "exists", False), DEVICE, True),
    ("exists on missing", leaf("tags.nope", "exists", True), DEVICE, False),
    ("null counts as missing", leaf("user_id", "exists"), with_(user_id=None), False),
    # gt / lt on numbers and instants
    ("tag gt", leaf("tags.visits", "gt", 10), DEVICE, True),
    ("tag gt equal", leaf("tags.visits", "gt", 12), DEVICE, False),
    ("tag lt", leaf("tags.visits", "lt", 12.5), DEVICE, True),
    ("decimal lt equal float", leaf("tags.score", "lt", 4.5), DEVICE, False),
    ("bool is not a number", leaf("tags.beta", "gt", 0), DEVICE, False),
    ("string is not a number", leaf("tags.plan", "gt", 0), DEVICE, False),
    ("created_at gt date", leaf("created_at", "gt", "2025-11-30"), DEVICE, True),
    ("created_at lt datetime", leaf("created_at", "lt", "2025-12-01T07:59:59Z"), DEVICE, False),
    # offsets are compared as instants: 08:00Z is 09:00+01:00
    ("created_at lt offset", leaf("created_at", "lt", "2025-12-01T09:00:01+01:00"), DEVICE, True),
    ("attribute date lt", leaf("attributes.birthday", "lt", "2000-01-01"), DEVICE, True),
    ("attribute date gt", leaf("attributes.birthday", "gt", "1990-05-01T00:00:00Z"), DEVICE, False),
    ("unparseable device date", leaf("created_at", "gt", "2020-01-01"), with_(created_at="yesterday"), False),
    # within: the timestamp lies in [now - duration, now]
    ("within P7D 3 days ago", leaf("last_seen", "within", "P7D"), DEVICE, True),
    ("within P7D 8 days ago", leaf("last_seen", "within", "P7D"), with_(last_seen=ago(days=8)), False),
    ("within P7D exactly 7 days", leaf("last_seen", "within", "P7D"), with_(last_seen=ago(days=7)), True),
    ("within PT12H 11h ago", leaf("last_seen", "within", "PT12H"), with_(last_seen=ago(hours=11)), True),
    ("within PT12H 13h ago", leaf("last_seen", "within", "PT12H"), with_(last_seen=ago(hours=13)), False),
    ("within P1DT2H 25h ago", leaf("last_seen", "within", "P1DT2H"), with_(last_seen=ago(hours=25)), True),
    ("within P1DT2H 27h ago", leaf("last_seen", "within", "P1DT2H"), with_(last_seen=ago(hours=27)), False),
    ("within P2W 13 days ago", leaf("last_seen", "within", "P2W"), with_(last_seen=ago(days=13)), True),
    (
        "within future is not within",
        leaf("last_seen", "within", "P7D"),
        with_(last_seen=ago(hours=-1)),
        False,
    ),
    (
        "within naive device time is UTC",
        leaf("last_seen", "within", "PT1H"),
        with_(last_seen="2026-05-10T11:30:00"),
        True,
    ),
    ("within tag number", leaf("tags.visits", "within", "P7D"), DEVICE, False),
    # combinators
    ("all true", {"all": [leaf("platform", "eq", "ios"), leaf("tags.plan", "eq", "pro")]}, DEVICE, True),
    (
        "all one false",
        {"all": [leaf("platform", "eq", "ios"), leaf("tags.plan", "eq", "free")]},
        DEVICE,
        False,
    ),
    ("any one true", {"any": [leaf("platform", "eq", "web"), leaf("country", "in", ["US"])]}, DEVICE, True),
    ("any none true", {"any": [leaf("platform", "eq", "web"), leaf("country", "eq", "FR")]}, DEVICE, False),
    ("not", {"not": leaf("platform", "eq", "ios")}, DEVICE, False),
    ("not missing exists", {"not": leaf("tags.nope", "exists")}, DEVICE, True),
    (
        "nested any/not",
        {
            "all": [
                leaf("opted_in", "eq", True),
                {"any": [{"not": leaf("country", "in", ["US", "CA"])}, leaf("tags.visits", "gt", 10)]},
                {"not": {"any": [leaf("platform", "eq", "web"), leaf("last_seen", "within", "PT1H")]}},
            ]
        },
        DEVICE,
        True,
    ),
    (
        "nested any/not, last seen just now",
        {
            "all": [
                leaf("opted_in", "eq", True),
                {"any": [{"not": leaf("country", "in", ["US", "CA"])}, leaf("tags.visits", "gt", 10)]},
                {"not": {"any": [leaf("platform", "eq", "web"), leaf("last_seen", "within", "PT1H")]}},
            ]
        },
        with_(last_seen=ago(minutes=5)),
        False,
    ),
]


@pytest.mark.parametrize(("name", "spec", "device", "expected"), MATCHES, ids=[m[0] for m in MATCHES])
def test_matches(name: str, spec: dict[str, Any], device: dict[str, Any], expected: bool) -> None:
    assert parse_filter(spec).matches(device, NOW) is expected


def test_empty_filter_matches_everything() -> None:
    everyone = parse_filter(None)
    assert everyone.matches({}, NOW) is True
    assert everyone.matches(DEVICE, NOW) is True
    assert everyone.to_json() is None


def test_naive_now_is_taken_as_utc() -> None:
    spec = parse_filter(leaf("last_seen", "within", "PT1H"))
    device = with_(last_seen="2026-05-10T11:30:00Z")
    assert spec.matches(device, datetime(2026, 5, 10, 12, 0)) is True
    assert spec.matches(device, datetime(2026, 5, 10, 14, 0, tzinfo=timezone(timedelta(hours=2)))) is True
    assert spec.matches(device, datetime(2026, 5, 10, 13, 0)) is False


def test_accepts_stored_python_dates_and_datetimes() -> None:
    within = parse_filter(leaf("last_seen", "within", "P1D"))
    assert within.matches(with_(last_seen=NOW - timedelta(hours=2)), NOW) is True
    before = parse_filter(leaf("attributes.birthday", "lt", "1990-05-02"))
    assert before.matches(with_(attributes={"birthday": date(1990, 5, 1)}), NOW) is True


ROUND_TRIPS = [
    leaf("platform", "eq", "ios"),
    {"not": {"any": [leaf("tags.plan", "in", ["pro", 3, True]), leaf("last_seen", "within", "P1DT2H")]}},
    {"all": [leaf("created_at", "gt", "2026-01-01T00:00:00Z"), leaf("tags.visits", "lt", 2.5)]},
    {"all": [leaf("user_id", "exists", False), leaf("attributes.vip", "ne", False)]},
]


@pytest.mark.parametrize("spec", ROUND_TRIPS)
def test_to_json_round_trips(spec: dict[str, Any]) -> None:
    parsed = parse_filter(spec)
    assert parsed.to_json() == spec
    assert parse_filter(parsed.to_json()).to_json() == spec
    assert validate_filter(spec) == spec


def test_to_json_is_canonical_and_a_copy() -> None:
    parsed = parse_filter({"any": [leaf("user_id", "exists"), leaf("country", "in", ["us", "FR"])]})
    canonical = {"any": [leaf("user_id", "exists", True), leaf("country", "in", ["US", "FR"])]}
    assert parsed.to_json() == canonical
    parsed.to_json()["any"].clear()  # type: ignore[index]
    assert parsed.to_json() == canonical


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = leaf("platform", "eq", "ios")
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def test_depth_and_leaf_limits_are_inclusive() -> None:
    # Ten levels: nine nots around a true leaf, so an odd number of negations.
    assert parse_filter(_nested(10)).matches(DEVICE, NOW) is False
    assert parse_filter(_nested(9)).matches(DEVICE, NOW) is True
    assert parse_filter({"any": [leaf("platform", "eq", "ios")] * 100}).matches(DEVICE, NOW) is True


INVALID = [
    ("not an object", ["platform"], "audience", "must be an object"),
    ("empty object", {}, "audience", "empty"),
    ("unknown node key", {"every": []}, "audience.every", "unknown key"),
    ("extra key beside all", {"all": [leaf("platform", "eq", "ios")], "x": 1}, "audience.x", "unknown key"),
    (
        "extra key in leaf",
        {**leaf("platform", "eq", "ios"), "negate": True},
        "audience.negate",
        "unknown key",
    ),
    ("empty all", {"all": []}, "audience.all", "non-empty list"),
    ("empty any", {"not": {"any": []}}, "audience.not.any", "non-empty list"),
    ("all not a list", {"all": leaf("platform", "eq", "ios")}, "audience.all", "non-empty list"),
    ("child not an object", {"any": [leaf("platform", "eq", "ios"), "ios"]}, "audience.any[1]", "object"),
    (
        "unknown op deep",
        {"all": [leaf("platform", "eq", "ios"), {"any": [leaf("country", "like", "U%")]}]},
        "audience.all[1].any[0].op",
        "unknown op",
    ),
    ("missing op", {"attr": "platform", "value": "ios"}, "audience.op", "required"),
    ("missing attr", {"op": "eq", "value": "ios"}, "audience.attr", "required"),
    ("missing value", leaf("platform", "eq"), "audience.value", "required"),
    (
        "unknown attr root",
        {"any": [leaf("device_model", "eq", "x")]},
        "audience.any[0].attr",
        "unknown attribute",
    ),
    ("attr not a string", leaf(3, "eq", "x"), "audience.attr", "must be a string"),  # type: ignore[arg-type]
    ("tags without key", leaf("tags", "eq", "x"), "audience.attr", "needs a key"),
    ("attributes without key", leaf("attributes.", "exists"), "audience.attr", "needs a key"),
    ("field with sub-key", leaf("platform.name", "eq", "ios"), "audience.attr", "no sub-keys"),
    ("eq with a list", leaf("country", "eq", ["US"]), "audience.value", "string, a finite number"),
    (
        "eq with null",
        {"attr": "country", "op": "eq", "value": None},
        "audience.value",
        "string, a finite number",
    ),
    ("eq with nan", leaf("tags.n", "eq", float("nan")), "audience.value", "finite"),
    ("in without a list", leaf("country", "in", "US"), "audience.value", "non-empty list"),
    ("in with empty list", {"attr": "country", "op": "in", "value": []}, "audience.value", "non-empty list"),
    ("in with a nested list", leaf("country", "in", ["US", ["FR"]]), "audience.value[1]", "string"),
    ("exists with a string", leaf("user_id", "exists", "yes"), "audience.value", "true or false"),
    ("gt with a word", leaf("tags.visits", "gt", "many"), "audience.value", "number or an ISO 8601"),
    ("gt with a bool", leaf("tags.visits", "gt", True), "audience.value", "number or an ISO 8601"),
    ("lt with a list", leaf("tags.visits", "lt", [1]), "audience.value", "number or an ISO 8601"),
    ("lt with infinity", leaf("tags.visits", "lt", float("inf")), "audience.value", "number or an ISO 8601"),
    ("gt number on a date field", leaf("last_seen", "gt", 5), "audience.value", "ISO 8601 date"),
    ("within malformed", leaf("last_seen", "within", "7 days"), "audience.value", "ISO 8601 duration"),
    ("within bare P", leaf("last_seen", "within", "P"), "audience.value", "ISO 8601 duration"),
    ("within bare T", leaf("last_seen", "within", "P1DT"), "audience.value", "ISO 8601 duration"),
    ("within months", leaf("last_seen", "within", "P1M"), "audience.value", "ISO 8601 duration"),
    ("within years", leaf("last_seen", "within", "P1Y"), "audience.value", "ISO 8601 duration"),
    ("within a number", leaf("last_seen", "within", 7), "audience.value", "ISO 8601 duration"),
    ("within zero", leaf("last_seen", "within", "PT0S"), "audience.value", "longer than zero"),
    ("within too long", leaf("last_seen", "within", "P99999999999D"), "audience.value", "too long"),
    ("too deep", _nested(11), "audience" + ".not" * 10, "deeper than 10"),
    (
        "too many leaves",
        {"all": [{"any": [leaf("platform", "eq", "ios")] * 60}, {"any": [leaf("country", "eq", "US")] * 41}]},
        "audience.all[1].any[40]",
        "more than 100",
    ),
]


@pytest.mark.parametrize(("name", "spec", "path", "reason"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_filters_name_the_exact_path(name: str, spec: Any, path: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(spec)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_validate_filter_raises_a_value_error_for_pydantic() -> None:
    with pytest.raises(ValueError, match=r"^audience\.all: must be a non-empty list$"):
        validate_filter({"all": []})
    with pytest.raises(FilterError):
        validate_filter(None)


# Matching must never raise, whatever a stored device holds.

ATTRS = [
    "platform",
    "country",
    "opted_in",
    "last_seen",
    "created_at",
    "user_id",
    "tags.plan",
    "tags.score",
    "attributes.birthday",
]
ODD_STRINGS = [
    "",
    "2026-05-09T12:00:00Z",
    "2026-05-09",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "not a date",
    "NaN",
    "1e400",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400)]),  # beyond float range
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(ODD_STRINGS),
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=14))])
    ),
    st.datetimes(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=2),
    max_leaves=3,
)
maps = st.one_of(
    values, st.dictionaries(st.sampled_from(["plan", "score", "birthday", "x"]), values, max_size=3)
)
devices = st.fixed_dictionaries(
    {},
    optional={
        "platform": values,
        "country": values,
        "opted_in": values,
        "last_seen": values,
        "created_at": values,
        "user_id": values,
        "tags": maps,
        "attributes": maps,
    },
)
leaf_values = st.sampled_from(
    [
        ("eq", "ios"),
        ("eq", 1),
        ("eq", 1.5),
        ("eq", True),
        ("ne", "pro"),
        ("ne", 0),
        ("in", ["US", 2, False, 0.5]),
        ("exists", True),
        ("exists", False),
        ("gt", 0),
        ("lt", 2.5),
        ("gt", "2026-01-01"),
        ("lt", "2026-05-01T00:00:00+05:45"),
        ("within", "P7D"),
        ("within", "PT0.5S"),
    ]
)


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    attr = draw(st.sampled_from(ATTRS))
    op, value = draw(leaf_values)
    if attr in ("last_seen", "created_at") and op in ("gt", "lt"):
        value = "2026-01-01T00:00:00Z"
    return {"attr": attr, "op": op, "value": value}


filters = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=8,
)
nows = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),
    st.just(NOW),
)


@given(spec=filters, device=devices, now=nows)
def test_matches_never_raises(spec: dict[str, Any], device: dict[str, Any], now: datetime) -> None:
    parsed = parse_filter(spec)
    assert parsed.matches(device, now) in (True, False)
    assert parse_filter(parsed.to_json()).matches(device, now) == parsed.matches(device, now)


@given(device=devices)
def test_not_is_the_exact_complement(device: dict[str, Any]) -> None:
    for attr in ATTRS:
        for op, value in [("eq", "pro"), ("in", ["US", 1]), ("exists", True), ("within", "P7D"), ("lt", 3)]:
            if attr in ("last_seen", "created_at") and op == "lt":
                value = "2026-01-01"
            spec = {"attr": attr, "op": op, "value": value}
            assert parse_filter({"not": spec}).matches(device, NOW) is not parse_filter(spec).matches(
                device, NOW
            )
        eq, ne = ({"attr": attr, "op": op, "value": "pro"} for op in ("eq", "ne"))
        assert parse_filter(ne).matches(device, NOW) is not parse_filter(eq).matches(device, NOW)
