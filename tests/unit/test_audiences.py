"""Behaviour, geography and segment filters: distance tables, matching tables, validation paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from pushengine import geo, profiles
from pushengine.audience import FilterError, expand_segments, parse_filter, segment_ids
from pushengine.models import DeviceIn, EventIn

pytestmark = pytest.mark.unit

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
ONE_DEGREE_KM = 111.19508  # 2πR/360 with R = 6371.0088 km


def ago(**delta: float) -> str:
    return profiles.stamp(NOW - timedelta(**delta))


# ---------- great-circle distance ----------
DISTANCES = [
    ("same point", (10, 20), (10, 20), 0.0),
    ("one degree along the equator", (0, 0), (0, 1), ONE_DEGREE_KM),
    ("one degree along a meridian", (45, 7), (46, 7), ONE_DEGREE_KM),
    ("north pole: every longitude is the same point", (90, 0), (90, 135), 0.0),
    ("south pole: every longitude is the same point", (-90, -45), (-90, 180), 0.0),
    ("one degree from the north pole, any longitude", (90, 0), (89, -170), ONE_DEGREE_KM),
    ("pole to pole", (90, 0), (-90, 0), 180 * ONE_DEGREE_KM),
    ("across the antimeridian is short", (0, 179.5), (0, -179.5), ONE_DEGREE_KM),
    ("antimeridian, both spellings of 180", (10, 180), (10, -180), 0.0),
    ("antipodes on the equator", (0, 0), (0, 180), 180 * ONE_DEGREE_KM),
    ("San Francisco to New York", (37.7749, -122.4194), (40.7128, -74.0060), 4129.1),
]


@pytest.mark.parametrize(("name", "a", "b", "km"), DISTANCES, ids=[d[0] for d in DISTANCES])
def test_great_circle_distance(name: str, a: tuple[float, float], b: tuple[float, float], km: float) -> None:
    assert geo.great_circle_km(*a, *b) == pytest.approx(km, abs=0.1 if km > 1000 else 1e-4)
    assert geo.great_circle_km(*b, *a) == pytest.approx(km, abs=0.1 if km > 1000 else 1e-4)


def near(lat: float, lon: float, radius_km: float) -> dict[str, Any]:
    return {"attr": "location", "op": "near", "value": {"lat": lat, "lon": lon, "radius_km": radius_km}}


def at(lat: float, lon: float) -> dict[str, Any]:
    return {"location": {"lat": Decimal(str(lat)), "lon": Decimal(str(lon))}}


NEAR = [
    ("inside", near(0, 0, 112), at(0, 1), True),
    ("just past the boundary", near(0, 0, 111.195), at(0, 1), False),
    ("just inside the boundary", near(0, 0, 111.196), at(0, 1), True),
    ("on the boundary counts as inside", near(0, 0, geo.great_circle_km(0, 0, 0, 1)), at(0, 1), True),
    ("across the antimeridian", near(-17.7, 179.9, 50), at(-17.7, -179.9), True),
    ("antimeridian, far the other way round", near(-17.7, 179.9, 50), at(-17.7, 170), False),
    ("near the north pole, other side", near(89.9, 0, 25), at(89.9, 180), True),
    ("near the south pole, other side", near(-89.9, 90, 20), at(-89.9, -90), False),
    ("no location", near(0, 0, 100), {}, False),
    ("location without lon", near(0, 0, 100), {"location": {"lat": 0}}, False),
    ("location not a map", near(0, 0, 100), {"location": "0,0"}, False),
    ("location out of range", near(0, 0, 20000), {"location": {"lat": 91, "lon": 0}}, False),
]


@pytest.mark.parametrize(("name", "spec", "device", "expected"), NEAR, ids=[n[0] for n in NEAR])
def test_near(name: str, spec: dict[str, Any], device: dict[str, Any], expected: bool) -> None:
    assert parse_filter(spec).matches(device, NOW) is expected


# ---------- behaviour and region ----------
DEVICE: dict[str, Any] = {
    "platform": "web",
    "country": "US",
    "region": "US-CA",
    profiles.attr("app_open", "first"): ago(days=90),
    profiles.attr("app_open", "last"): ago(days=20),
    profiles.attr("app_open", "count"): Decimal(7),
    profiles.attr("purchase", "first"): ago(days=10),
    profiles.attr("purchase", "last"): ago(days=5),
    profiles.attr("purchase", "count"): Decimal(2),
    profiles.attr("purchase", "sum"): Decimal("149.90"),
    profiles.attr("cart.v2", "count"): Decimal(1),
}


def leaf(attr: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"attr": attr, "op": op} if value is None else {"attr": attr, "op": op, "value": value}


MATCHES = [
    ("lapsed: no open within 14 days", {"not": leaf("events.app_open.last", "within", "P14D")}, True),
    ("opened within 30 days", leaf("events.app_open.last", "within", "P30D"), True),
    ("never did it is lapsed too", {"not": leaf("events.uninstall.last", "within", "P14D")}, True),
    ("first open before a date", leaf("events.app_open.first", "lt", "2026-03-01"), True),
    ("first open after a date", leaf("events.app_open.first", "gt", "2026-03-01"), False),
    ("count gt", leaf("events.app_open.count", "gt", 6), True),
    ("count gt equal", leaf("events.app_open.count", "gt", 7), False),
    ("count eq", leaf("events.purchase.count", "eq", 2), True),
    ("sum lt (decimal stored)", leaf("events.purchase.sum", "lt", 150), True),
    ("sum at least 100", {"not": leaf("events.purchase.sum", "lt", 100)}, True),
    ("sum exists", leaf("events.purchase.sum", "exists"), True),
    ("sum missing when no value was sent", leaf("events.app_open.sum", "exists"), False),
    ("never happened: count missing", leaf("events.refund.count", "gt", 0), False),
    ("event names may hold dots", leaf("events.cart.v2.count", "eq", 1), True),
    ("bought in 30 days, total >= 100", {"all": [leaf("events.purchase.last", "within", "P30D"),
                                               {"not": leaf("events.purchase.sum", "lt", 100)}]}, True),
    ("region eq", leaf("region", "eq", "US-CA"), True),
    ("region eq any case", leaf("region", "eq", "us-ca"), True),
    ("region in", leaf("region", "in", ["US-NY", "US-CA"]), True),
    ("region in others", leaf("region", "in", ["US-NY", "CA-BC"]), False),
    ("region ne", leaf("region", "ne", "US-CA"), False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "expected"), MATCHES, ids=[m[0] for m in MATCHES])
def test_behaviour_and_region_matching(name: str, spec: dict[str, Any], expected: bool) -> None:
    assert parse_filter(spec).matches(DEVICE, NOW) is expected


INVALID = [
    ("unknown profile field", leaf("events.app_open.median", "gt", 1), "audience.attr", "events.<name>"),
    ("profile without field", leaf("events.app_open", "exists"), "audience.attr", "events.<name>"),
    ("bad event name", leaf("events.a b.count", "gt", 1), "audience.attr", "events.<name>"),
    ("eq on a timestamp", leaf("events.app_open.last", "eq", "2026-01-01"), "audience.op", "takes within"),
    ("within on a count", leaf("events.app_open.count", "within", "P1D"), "audience.op", "takes gt"),
    ("in on a sum", leaf("events.purchase.sum", "in", [1]), "audience.op", "takes gt"),
    ("count against a word", leaf("events.app_open.count", "eq", "many"), "audience.value", "finite number"),
    ("count against a date", leaf("events.app_open.count", "gt", "2026-01-01"), "audience.value", "finite number"),
    ("last against a number", leaf("events.app_open.last", "gt", 5), "audience.value", "ISO 8601 date"),
    ("region that does not exist", leaf("region", "eq", "US-XX"), "audience.value", "ISO 3166-2"),
    ("region list with a bad one", leaf("region", "in", ["US-CA", "ZZ-9"]), "audience.value[1]", "ISO 3166-2"),
    ("region gt", leaf("region", "gt", "US-CA"), "audience.op", "takes eq"),
    ("near on another attribute", near(0, 0, 1) | {"attr": "country"}, "audience.op", "takes eq"),
    ("eq on location", leaf("location", "eq", "x"), "audience.op", "takes near"),
    ("near radius zero", near(0, 0, 0), "audience.value.radius_km", "more than 0"),
    ("near radius negative", near(0, 0, -1), "audience.value.radius_km", "more than 0"),
    ("near radius too large", near(0, 0, 20001), "audience.value.radius_km", "at most 20000"),
    ("near lat out of range", near(90.5, 0, 1), "audience.value.lat", "between -90 and 90"),
    ("near lon out of range", near(0, -181, 1), "audience.value.lon", "between -180 and 180"),
    ("near without lon", {"attr": "location", "op": "near", "value": {"lat": 1, "radius_km": 1}},
     "audience.value.lon", "required"),
    ("near with an extra key", near(1, 1, 1) | {"value": {"lat": 1, "lon": 1, "radius_km": 1, "unit": "mi"}},
     "audience.value.unit", "unknown key"),
    ("near value not an object", leaf("location", "near", [1, 2]), "audience.value", "must be an object"),
    ("near radius a string", near(0, 0, "5"), "audience.value.radius_km", "finite number"),  # type: ignore[arg-type]
    ("segment id malformed", {"segment": "a b"}, "audience.segment", "segment id"),
    ("segment with an extra key", {"segment": "s1", "op": "eq"}, "audience.op", "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "path", "reason"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_filters_name_the_path(name: str, spec: Any, path: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(spec)
    assert caught.value.path == path
    assert reason in caught.value.reason


# ---------- saved segments ----------
SEGMENTS: dict[str, Any] = {
    "pro": leaf("tags.plan", "eq", "pro"),
    "ca": leaf("region", "eq", "US-CA"),
    "pro_in_ca": {"all": [{"segment": "pro"}, {"segment": "ca"}]},
    "loop_a": {"not": {"segment": "loop_b"}},
    "loop_b": {"any": [leaf("platform", "eq", "ios"), {"segment": "loop_a"}]},
    "self": {"segment": "self"},
    **{f"n{i}": {"segment": f"n{i + 1}"} for i in range(6)},
    "n6": leaf("platform", "eq", "web"),
}


def test_segments_expand_recursively_and_match_like_their_filters() -> None:
    spec = {"any": [{"segment": "pro_in_ca"}, leaf("platform", "eq", "android")]}
    assert segment_ids(spec) == ["pro_in_ca"]
    expanded = expand_segments(spec, SEGMENTS.get)
    assert expanded == {
        "any": [{"all": [SEGMENTS["pro"], SEGMENTS["ca"]]}, leaf("platform", "eq", "android")]
    }
    device = {"tags": {"plan": "pro"}, "region": "US-CA", "platform": "web"}
    assert parse_filter(expanded, expanded=True).matches(device, NOW) is True
    assert parse_filter(expanded, expanded=True).matches({**device, "region": "US-NY"}, NOW) is False


EXPAND_ERRORS = [
    ("missing", {"all": [leaf("platform", "eq", "ios"), {"segment": "gone"}]}, "audience.all[1].segment", "not found"),
    ("cycle", {"segment": "loop_a"}, "audience.segment.not.segment.any[1].segment", "cycle: loop_a -> loop_b -> loop_a"),
    ("self", {"segment": "self"}, "audience.segment.segment", "cycle: self -> self"),
    ("too deep", {"segment": "n0"}, "audience" + ".segment" * 5, "deeper than 4"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "path", "reason"), EXPAND_ERRORS, ids=[e[0] for e in EXPAND_ERRORS])
def test_segment_expansion_errors(name: str, spec: Any, path: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        expand_segments(spec, SEGMENTS.get)
    assert (caught.value.path, reason in caught.value.reason) == (path, True), caught.value


def test_expansion_is_bounded_in_leaves() -> None:
    wide = {"any": [leaf("tags.n", "eq", i) for i in range(100)]}
    store = {"wide": wide}
    expand_segments({"all": [{"segment": "wide"}] * 5}, store.get)  # 500 conditions: the limit
    with pytest.raises(FilterError, match="more than 500"):
        expand_segments({"all": [{"segment": "wide"}] * 5 + [leaf("platform", "eq", "ios")]}, store.get)


def test_expansion_is_bounded_in_bytes() -> None:
    long_list = {"long": leaf("tags.sku", "in", [f"sku-{i:05d}" for i in range(1400)])}  # ~15 KB
    expand_segments({"all": [{"segment": "long"}] * 7}, long_list.get)
    with pytest.raises(FilterError, match="bytes with its segments expanded"):
        expand_segments({"all": [{"segment": "long"}] * 10}, long_list.get)


def test_an_unexpanded_segment_never_matches_silently() -> None:
    with pytest.raises(RuntimeError, match="expand_segments"):
        parse_filter({"segment": "pro"}).matches({}, NOW)


# ---------- profiles and bodies ----------
def test_profile_attributes_and_stamps() -> None:
    assert profiles.parse_attr("events.cart.v2.count") == ("cart.v2", "count")
    assert profiles.parse_attr("events.x") is None and profiles.parse_attr("tags.x") is None
    # Fixed width, so string order is time order even across a fraction of a second.
    early = profiles.stamp(datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC))
    later = profiles.stamp(datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC))
    assert (early, later) == ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.500Z") and early < later
    assert profiles.profile_view(DEVICE)["purchase"] == {
        "first": ago(days=10), "last": ago(days=5), "count": 2, "sum": Decimal("149.90")
    }  # fmt: skip


def errors_of(model: Any, body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in caught.value.errors()]


WEB = {"platform": "web", "subscription": None}


def test_device_geography() -> None:
    body = {"platform": "ios", "token": "ab" * 32}
    device = DeviceIn.model_validate({**body, "region": "gb-eng", "location": {"lat": -33.9, "lon": 151.2}})
    assert (device.region, device.country) == ("GB-ENG", "GB")
    assert DeviceIn.model_validate({**body, "region": "FR-75C", "country": "fr"}).region == "FR-75C"
    (error,) = errors_of(DeviceIn, {**body, "region": "US-XX"})
    assert error[0] == "region" and "ISO 3166-2" in error[1]
    (error,) = errors_of(DeviceIn, {**body, "region": "US-CA", "country": "MX"})
    assert "region: US-CA is not in country MX" in error[1]
    for lat, lon, field in (
        (90.01, 0, "location.lat"),
        (0, 180.5, "location.lon"),
        (float("nan"), 0, "location.lat"),
    ):
        (error,) = errors_of(DeviceIn, {**body, "location": {"lat": lat, "lon": lon}})
        assert error[0] == field


@pytest.mark.clock
def test_event_bodies() -> None:
    # The intake refuses events from the future and from over five years ago, as of now: the test holds "now".
    received = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(received, tick=False):
        ok = EventIn.model_validate({"user_id": "u1", "name": "purchase", "value": 10, "properties": {"sku": "A"},
                                     "timestamp": "2026-11-30T10:00:00+01:00"})  # fmt: skip
        assert ok.timestamp == datetime(2026, 11, 30, 9, 0, tzinfo=UTC) and ok.device_id is None
        edges = [received + timedelta(minutes=5), received - timedelta(days=5 * 365)]  # the last ones accepted
        assert [EventIn.model_validate({"device_id": "d", "name": "e", "timestamp": at.isoformat()}).timestamp
                for at in edges] == edges  # fmt: skip
        bad = [
            ({"name": "e"}, "give exactly one"),
            ({"device_id": "d", "user_id": "u", "name": "e"}, "give exactly one"),
            ({"device_id": "d", "name": "e", "properties": {"k": "v" * 2100}}, "bytes as JSON"),
            ({"device_id": "d", "name": "e", "properties": {f"k{i}": i for i in range(33)}}, "at most 32 keys"),
            ({"device_id": "d", "name": "e", "timestamp": (edges[0] + timedelta(seconds=1)).isoformat()}, "future"),
            ({"device_id": "d", "name": "e", "timestamp": (edges[1] - timedelta(seconds=1)).isoformat()}, "5 years"),
            ({"device_id": "d", "name": "e", "timestamp": "2001-01-01T00:00:00Z"}, "5 years"),
            ({"device_id": "d", "name": "e", "timestamp": "2026-11-30T10:00:00"}, "timezone"),
            ({"device_id": "d", "name": "x" * 65}, "pattern"),
        ]  # fmt: skip
        for body, reason in bad:
            assert any(reason in msg for _, msg in errors_of(EventIn, body)), (body, errors_of(EventIn, body))


# Matching never raises, whatever a stored device holds where a profile, region or location should be.
odd = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([10**400, "", "not a date", "2026-05-01T00:00:00Z"]),
    st.floats(allow_nan=True, allow_infinity=True), st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=4), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["lat", "lon", "x"]),
                    st.one_of(st.floats(allow_nan=True), st.decimals(allow_nan=True), st.text(max_size=2),
                              st.integers(min_value=-(10**400), max_value=10**400)), max_size=3),
)  # fmt: skip
odd_devices = st.fixed_dictionaries(
    {}, optional={"region": odd, "location": odd, **{profiles.attr("buy", f): odd for f in profiles.FIELDS}}
)
NEW_LEAVES = [
    near(10, 20, 500), leaf("region", "in", ["US-CA"]), leaf("region", "ne", "US-CA"),
    leaf("events.buy.last", "within", "P7D"), leaf("events.buy.first", "gt", "2026-01-01"),
    leaf("events.buy.count", "gt", 1), leaf("events.buy.sum", "eq", 2.5), leaf("events.buy.sum", "exists"),
]  # fmt: skip


@given(device=odd_devices)
@example(device={"location": {"lat": 10**400, "lon": 0}})  # float() of it is inf: sin(inf) raises
def test_new_leaves_never_raise_and_not_is_their_complement(device: dict[str, Any]) -> None:
    for spec in NEW_LEAVES:
        matched = parse_filter(spec).matches(device, NOW)
        assert matched in (True, False)
        assert parse_filter({"not": spec}).matches(device, NOW) is not matched
