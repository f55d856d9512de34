"""The audience filter language: validate a JSON filter once, compile it to closures, match devices.

A node is {"all": [node, ...]}, {"any": [node, ...]}, {"not": node}, a leaf
{"attr": path, "op": op, "value": v}, or a saved segment {"segment": id}. Matching never raises:
a missing or odd-typed device value simply does not match (except `ne`, which a missing value
satisfies).

Attributes: the device's fields, `tags.<key>`, `attributes.<key>`, its behaviour
`events.<name>.first|last|count|sum` (see profiles), `region` and `location` (op `near`).
Segment leaves are replaced by the segments' filters (expand_segments) before a filter matches:
at the wave's firing, so an edit of a segment reaches every wave not yet fired.
"""

from __future__ import annotations

import copy
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pushengine import geo, profiles
from pushengine.limits import number_problem

MAX_DEPTH = 10
MAX_LEAVES = 100
MAX_IN_VALUES = 1000  # values of one `in` list (a larger audience belongs in a tag, not a filter)
# A filter with its segments expanded: segments nest at most MAX_SEGMENT_DEPTH deep, and the
# whole expanded tree is still bounded, because every device of a wave is matched against it.
MAX_SEGMENT_DEPTH = 4
EXPANDED_DEPTH = MAX_DEPTH * (MAX_SEGMENT_DEPTH + 1)
EXPANDED_LEAVES = 500
EXPANDED_BYTES = 128 * 1024  # as JSON; a wave stores its expanded filter in one DynamoDB item (400 KB)
FIELDS = frozenset(
    {"platform", "country", "locale", "timezone", "opted_in", "last_seen", "user_id", "created_at", "region"}
)
MAPS = frozenset({"tags", "attributes"})
DATE_FIELDS = frozenset({"last_seen", "created_at"})
UPPER_CASE_FIELDS = frozenset({"country", "region"})  # stored upper-cased, so filters match any case
OPS = ("eq", "ne", "in", "exists", "gt", "lt", "within", "near")
SEGMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Matcher = Callable[[Mapping[str, Any], datetime], bool]
Getter = Callable[[Mapping[str, Any]], Any]

# Weeks, days and clock units only: months and years have no fixed length.
_DURATION = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.ASCII
)
_ZERO = timedelta(0)


class FilterError(ValueError):
    """An invalid filter; `path` points inside it, e.g. "audience.all[1].any[0].op"."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class Filter:
    """A compiled filter. Build with parse_filter; None (no filter) matches every device."""

    __slots__ = ("_json", "_match")

    def __init__(self, json: dict[str, Any] | None, match: Matcher) -> None:
        self._json = json
        self._match = match

    def matches(self, device: Mapping[str, Any], now: datetime) -> bool:
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return self._match(device, now)

    def to_json(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._json)


def parse_filter(obj: Any, path: str = "audience", *, expanded: bool = False) -> Filter:
    """Validate and compile `obj`; raises FilterError naming where it is wrong.

    `expanded`: `obj` came out of expand_segments, so the larger limits of an expanded tree apply.
    """
    if obj is None:
        return Filter(None, lambda device, now: True)
    limits = (EXPANDED_DEPTH, EXPANDED_LEAVES) if expanded else (MAX_DEPTH, MAX_LEAVES)
    match, canonical = _Compiler(*limits).node(obj, path, 1)
    return Filter(canonical, match)


def segment_ids(obj: Any) -> list[str]:
    """The segments a (valid) filter names directly, in order of first mention."""
    found: dict[str, None] = {}
    for node in _nodes(obj):
        if "segment" in node:
            found[node["segment"]] = None
    return list(found)


def _nodes(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        yield obj
        for kind in ("all", "any"):
            for child in obj.get(kind) or ():
                yield from _nodes(child)
        if "not" in obj:
            yield from _nodes(obj["not"])


SegmentLoader = Callable[[str], "dict[str, Any] | None"]


def expand_segments(obj: Any, load: SegmentLoader, path: str = "audience") -> dict[str, Any] | None:
    """`obj` with every {"segment": id} replaced by that segment's filter, recursively.

    Raises FilterError at the segment leaf for a segment that does not exist, a cycle, segments
    nested deeper than MAX_SEGMENT_DEPTH, or an expansion over EXPANDED_LEAVES conditions or
    EXPANDED_BYTES of JSON.
    """
    if obj is None:
        return None
    cache: dict[str, dict[str, Any] | None] = {}
    leaves = 0

    def walk(node: dict[str, Any], where: str, chain: tuple[str, ...]) -> dict[str, Any]:
        nonlocal leaves
        if "segment" in node:
            seg = node["segment"]
            if seg in chain:
                raise FilterError(f"{where}.segment", f"segment cycle: {' -> '.join((*chain, seg))}")
            if len(chain) >= MAX_SEGMENT_DEPTH:
                raise FilterError(f"{where}.segment", f"segments nested deeper than {MAX_SEGMENT_DEPTH}")
            if seg not in cache:
                cache[seg] = load(seg)
            inner = cache[seg]
            if inner is None:
                raise FilterError(f"{where}.segment", f"segment {seg} not found")
            return walk(inner, f"{where}.segment", (*chain, seg))
        for kind in ("all", "any"):
            if kind in node:
                return {kind: [walk(c, f"{where}.{kind}[{i}]", chain) for i, c in enumerate(node[kind])]}
        if "not" in node:
            return {"not": walk(node["not"], f"{where}.not", chain)}
        leaves += 1
        if leaves > EXPANDED_LEAVES:
            raise FilterError(where, f"more than {EXPANDED_LEAVES} conditions with its segments expanded")
        return node

    expanded = walk(obj, path, ())
    if len(json.dumps(expanded, separators=(",", ":"))) > EXPANDED_BYTES:
        raise FilterError(path, f"larger than {EXPANDED_BYTES} bytes with its segments expanded")
    return expanded


def validate_filter(obj: Any) -> dict[str, Any]:
    """For API models: the filter in canonical JSON form, or FilterError (a ValueError)."""
    if obj is None:
        raise FilterError("audience", "must be an object")
    canonical = parse_filter(obj).to_json()
    assert canonical is not None  # only None parses to None
    return canonical


class _Compiler:
    def __init__(self, max_depth: int = MAX_DEPTH, max_leaves: int = MAX_LEAVES) -> None:
        self.leaves = 0
        self.max_depth = max_depth
        self.max_leaves = max_leaves

    def node(self, obj: Any, path: str, depth: int) -> tuple[Matcher, dict[str, Any]]:
        if not isinstance(obj, dict):
            raise FilterError(path, "must be an object")
        if depth > self.max_depth:
            raise FilterError(path, f"nested deeper than {self.max_depth} levels")
        for kind in ("all", "any"):
            if kind in obj:
                _only(obj, (kind,), path)
                children = obj[kind]
                if not isinstance(children, list) or not children:
                    raise FilterError(f"{path}.{kind}", "must be a non-empty list")
                parts = [self.node(c, f"{path}.{kind}[{i}]", depth + 1) for i, c in enumerate(children)]
                matchers = tuple(m for m, _ in parts)
                return (_all if kind == "all" else _any)(matchers), {kind: [c for _, c in parts]}
        if "not" in obj:
            _only(obj, ("not",), path)
            inner, canonical = self.node(obj["not"], f"{path}.not", depth + 1)
            return _not(inner), {"not": canonical}
        if "segment" in obj:
            _only(obj, ("segment",), path)
            self.count_leaf(path)
            seg = obj["segment"]
            if not isinstance(seg, str) or not SEGMENT_ID.match(seg):
                raise FilterError(f"{path}.segment", "must be a segment id")
            return _unexpanded(seg), {"segment": seg}
        if "attr" in obj or "op" in obj:
            return self.leaf(obj, path)
        if obj:
            raise FilterError(
                f"{path}.{next(iter(obj))}", "unknown key; expected all, any, not, attr/op or segment"
            )
        raise FilterError(path, "empty; expected all, any, not, attr/op or segment")

    def count_leaf(self, path: str) -> None:
        if self.leaves >= self.max_leaves:
            raise FilterError(path, f"more than {self.max_leaves} conditions")
        self.leaves += 1

    def leaf(self, obj: dict[str, Any], path: str) -> tuple[Matcher, dict[str, Any]]:
        _only(obj, ("attr", "op", "value"), path)
        self.count_leaf(path)
        for key in ("attr", "op"):
            if key not in obj:
                raise FilterError(f"{path}.{key}", "required")
        attr, op = obj["attr"], obj["op"]
        get = _getter(attr, f"{path}.attr")
        if op not in OPS:
            raise FilterError(f"{path}.op", f"unknown op {op!r}; expected one of {', '.join(OPS)}")
        allowed = _ops_of(attr)
        if op not in allowed:
            raise FilterError(f"{path}.op", f"{attr} takes {', '.join(allowed)}, not {op}")
        value_path = f"{path}.value"
        if op == "near":
            if "value" not in obj:
                raise FilterError(value_path, "required")
            circle = _circle(obj["value"], value_path)
            return _near(get, *circle), {"attr": attr, "op": op, "value": obj["value"]}
        if op == "exists":
            value = obj.get("value", True)
            if not isinstance(value, bool):
                raise FilterError(value_path, "must be true or false")
            return _exists(get, value), {"attr": attr, "op": op, "value": value}
        if "value" not in obj:
            raise FilterError(value_path, "required")
        value = obj["value"]
        if op in ("eq", "ne"):
            value = _scalar(attr, value, value_path)
            return (_eq if op == "eq" else _ne)(get, _key(value)), {"attr": attr, "op": op, "value": value}
        if op == "in":
            if not isinstance(value, list) or not value:
                raise FilterError(value_path, "must be a non-empty list")
            if len(value) > MAX_IN_VALUES:
                raise FilterError(value_path, f"more than {MAX_IN_VALUES} values")
            value = [_scalar(attr, v, f"{value_path}[{i}]") for i, v in enumerate(value)]
            return _in(get, frozenset(_key(v) for v in value)), {"attr": attr, "op": op, "value": value}
        if op == "within":
            return _within(get, _duration(value, value_path)), {"attr": attr, "op": op, "value": value}
        compare = operator.gt if op == "gt" else operator.lt
        return _ordered(attr, get, compare, value, value_path), {"attr": attr, "op": op, "value": value}


def _only(obj: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
    extra = next((k for k in obj if k not in allowed), None)
    if extra is not None:
        raise FilterError(f"{path}.{extra}", "unknown key")


_TIME_OPS = ("within", "gt", "lt", "exists")
_NUMBER_OPS = ("gt", "lt", "eq", "exists")
_SCALAR_OPS = ("eq", "ne", "in", "exists", "gt", "lt", "within")


def _ops_of(attr: str) -> tuple[str, ...]:
    """The ops an attribute takes (its getter has already checked the attribute exists)."""
    event = profiles.parse_attr(attr)
    if event is not None:
        return _TIME_OPS if event[1] in profiles.TIME_FIELDS else _NUMBER_OPS
    if attr == "location":
        return ("near", "exists")
    if attr == "region":
        return ("eq", "ne", "in", "exists")
    return _SCALAR_OPS


def _is_time(attr: str) -> bool:
    event = profiles.parse_attr(attr)
    return attr in DATE_FIELDS or (event is not None and event[1] in profiles.TIME_FIELDS)


def _getter(attr: Any, path: str) -> Getter:
    if not isinstance(attr, str):
        raise FilterError(path, "must be a string")
    if attr.startswith(profiles.PREFIX):
        event = profiles.parse_attr(attr)
        if event is None or event[1] not in profiles.FIELDS or not re.match(profiles.EVENT_NAME, event[0]):
            raise FilterError(
                path, f"expected events.<name>.{'|'.join(profiles.FIELDS)}, e.g. events.app_open.last"
            )
        return lambda device: device.get(attr)  # profiles keep each value as a top-level attribute
    if attr == "location":
        return lambda device: device.get("location")
    root, dot, key = attr.partition(".")
    if root in FIELDS and not dot:
        return lambda device: device.get(root)
    if root in MAPS and key:
        return _map_getter(root, key)
    if root in FIELDS:
        raise FilterError(path, f"{root!r} has no sub-keys")
    if root in MAPS:
        raise FilterError(path, f"needs a key, e.g. {root}.plan")
    known = ", ".join(sorted(FIELDS)) + ", location, tags.<key>, attributes.<key>, events.<name>.<field>"
    raise FilterError(path, f"unknown attribute {attr!r}; expected one of {known}")


def _map_getter(root: str, key: str) -> Getter:
    def get(device: Mapping[str, Any]) -> Any:
        values = device.get(root)
        return values.get(key) if isinstance(values, Mapping) else None

    return get


def _scalar(attr: str, value: Any, path: str) -> str | int | float | bool:
    if profiles.parse_attr(attr) is not None:  # counts and sums
        if _number(value) is None:
            raise FilterError(path, "must be a finite number")
        return value  # type: ignore[no-any-return]
    if attr == "region" and not (isinstance(value, str) and geo.is_region(value)):
        raise FilterError(path, "not an ISO 3166-2 subdivision code (e.g. US-CA)")
    if isinstance(value, str):
        # Devices store ISO 3166 codes upper-cased, so "us" in a filter must still match.
        return value.upper() if attr in UPPER_CASE_FIELDS else value
    if isinstance(value, bool) or _number(value) is not None:
        return _storable(value, path)
    raise FilterError(path, "must be a string, a finite number or a boolean")


def _circle(value: Any, path: str) -> tuple[float, float, float]:
    """(lat, lon, radius_km) of a `near` value, each checked against its range."""
    if not isinstance(value, dict):
        raise FilterError(path, "must be an object {lat, lon, radius_km}")
    _only(value, ("lat", "lon", "radius_km"), path)
    bounds = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "radius_km": (0.0, geo.MAX_RADIUS_KM)}
    out = []
    for key, (low, high) in bounds.items():
        if key not in value:
            raise FilterError(f"{path}.{key}", "required")
        number = _number(value[key])
        if number is None:
            raise FilterError(f"{path}.{key}", "must be a finite number")
        if key == "radius_km" and not low < number <= high:
            raise FilterError(f"{path}.{key}", f"must be more than 0 and at most {high:g}")
        if key != "radius_km" and not low <= number <= high:
            raise FilterError(f"{path}.{key}", f"must be between {low:g} and {high:g}")
        out.append(float(number))
    return out[0], out[1], out[2]


def _storable(value: Any, path: str) -> Any:
    """The filter is stored with its campaign: a number DynamoDB cannot hold is refused here."""
    problem = number_problem(value)
    if problem:
        raise FilterError(path, problem)
    return value


def _duration(value: Any, path: str) -> timedelta:
    found = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if found is None or not any(found.groups()):
        raise FilterError(path, "must be an ISO 8601 duration in W, D, H, M or S, e.g. P7D, PT12H, P1DT2H")
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    try:
        span = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except (OverflowError, ValueError) as exc:
        raise FilterError(path, "duration is too long") from exc
    if span <= _ZERO:
        raise FilterError(path, "duration must be longer than zero")
    return span


def _ordered(attr: str, get: Getter, compare: Callable[[Any, Any], bool], value: Any, path: str) -> Matcher:
    is_time = _is_time(attr)
    bound_number = None if is_time else _number(value)
    if bound_number is not None:
        _storable(value, path)
        return _compare_by(_number, get, compare, bound_number)
    if profiles.parse_attr(attr) is not None and not is_time:
        raise FilterError(path, "must be a finite number")
    bound_instant = _instant(value) if isinstance(value, str) else None
    if bound_instant is not None:
        return _compare_by(_instant, get, compare, bound_instant)
    if is_time:
        raise FilterError(path, "must be an ISO 8601 date or datetime")
    raise FilterError(path, "must be a finite number or an ISO 8601 date or datetime")


# Matchers. Each closes over what the filter fixed at compile time; only the device is read per call.


def _all(matchers: tuple[Matcher, ...]) -> Matcher:
    return lambda device, now: all(m(device, now) for m in matchers)


def _any(matchers: tuple[Matcher, ...]) -> Matcher:
    return lambda device, now: any(m(device, now) for m in matchers)


def _not(inner: Matcher) -> Matcher:
    return lambda device, now: not inner(device, now)


def _exists(get: Getter, want: bool) -> Matcher:
    return lambda device, now: (get(device) is not None) is want


def _eq(get: Getter, want: object) -> Matcher:
    return lambda device, now: _key(get(device)) == want


def _ne(get: Getter, want: object) -> Matcher:
    return lambda device, now: _key(get(device)) != want


def _in(get: Getter, wanted: frozenset[object]) -> Matcher:
    return lambda device, now: _key(get(device)) in wanted


def _compare_by(
    convert: Callable[[Any], Any], get: Getter, compare: Callable[[Any, Any], bool], bound: Any
) -> Matcher:
    def match(device: Mapping[str, Any], now: datetime) -> bool:
        value = convert(get(device))
        return value is not None and compare(value, bound)

    return match


def _unexpanded(segment_id: str) -> Matcher:
    def match(device: Mapping[str, Any], now: datetime) -> bool:
        raise RuntimeError(f"segment {segment_id} was not expanded before matching (expand_segments)")

    return match


def _near(get: Getter, lat: float, lon: float, radius_km: float) -> Matcher:
    def match(device: Mapping[str, Any], now: datetime) -> bool:
        where = get(device)
        if not isinstance(where, Mapping):
            return False
        there_lat, there_lon = _number(where.get("lat")), _number(where.get("lon"))
        if there_lat is None or there_lon is None or abs(there_lat) > 90 or abs(there_lon) > 180:
            return False
        return geo.great_circle_km(lat, lon, float(there_lat), float(there_lon)) <= radius_km

    return match


def _within(get: Getter, span: timedelta) -> Matcher:
    def match(device: Mapping[str, Any], now: datetime) -> bool:
        moment = _instant(get(device))
        return moment is not None and _ZERO <= now - moment <= span

    return match


# Value normalisation shared by filter values (at compile time) and device values (per match).


def _key(value: Any) -> tuple[str, Any] | None:
    """A hashable, type-tagged form so True never equals 1 and 1.5 equals Decimal("1.5")."""
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, bool):
        return ("b", value)
    number = _number(value)
    return None if number is None else ("n", number)


def _number(value: Any) -> Decimal | None:
    """Finite numbers as Decimal, so an int, a float (by its shortest repr) and a Decimal filter value compare
    exactly with a device's int or float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    else:
        return None
    return number if number.is_finite() else None


def _instant(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string or date; naive values are taken as UTC."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment
