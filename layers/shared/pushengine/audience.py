"""The audience filter language: validate a JSON filter once, compile it to closures, match devices.

A node is {"all": [node, ...]}, {"any": [node, ...]}, {"not": node} or a leaf
{"attr": path, "op": op, "value": v}. Matching never raises: a missing or odd-typed device value
simply does not match (except `ne`, which a missing value satisfies).
"""

from __future__ import annotations

import copy
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pushengine.limits import number_problem

MAX_DEPTH = 10
MAX_LEAVES = 100
MAX_IN_VALUES = 1000  # values of one `in` list (a larger audience belongs in a tag, not a filter)
FIELDS = frozenset(
    {"platform", "country", "locale", "timezone", "opted_in", "last_seen", "user_id", "created_at"}
)
MAPS = frozenset({"tags", "attributes"})
DATE_FIELDS = frozenset({"last_seen", "created_at"})
OPS = ("eq", "ne", "in", "exists", "gt", "lt", "within")

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


def parse_filter(obj: Any, path: str = "audience") -> Filter:
    """Validate and compile `obj`; raises FilterError naming where it is wrong."""
    if obj is None:
        return Filter(None, lambda device, now: True)
    match, canonical = _Compiler().node(obj, path, 1)
    return Filter(canonical, match)


def validate_filter(obj: Any) -> dict[str, Any]:
    """For API models: the filter in canonical JSON form, or FilterError (a ValueError)."""
    if obj is None:
        raise FilterError("audience", "must be an object")
    canonical = parse_filter(obj).to_json()
    assert canonical is not None  # only None parses to None
    return canonical


class _Compiler:
    def __init__(self) -> None:
        self.leaves = 0

    def node(self, obj: Any, path: str, depth: int) -> tuple[Matcher, dict[str, Any]]:
        if not isinstance(obj, dict):
            raise FilterError(path, "must be an object")
        if depth > MAX_DEPTH:
            raise FilterError(path, f"nested deeper than {MAX_DEPTH} levels")
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
        if "attr" in obj or "op" in obj:
            return self.leaf(obj, path)
        if obj:
            raise FilterError(f"{path}.{next(iter(obj))}", "unknown key; expected all, any, not or attr/op")
        raise FilterError(path, "empty; expected all, any, not or attr/op")

    def leaf(self, obj: dict[str, Any], path: str) -> tuple[Matcher, dict[str, Any]]:
        _only(obj, ("attr", "op", "value"), path)
        if self.leaves >= MAX_LEAVES:
            raise FilterError(path, f"more than {MAX_LEAVES} conditions")
        self.leaves += 1
        for key in ("attr", "op"):
            if key not in obj:
                raise FilterError(f"{path}.{key}", "required")
        attr, op = obj["attr"], obj["op"]
        get = _getter(attr, f"{path}.attr")
        if op not in OPS:
            raise FilterError(f"{path}.op", f"unknown op {op!r}; expected one of {', '.join(OPS)}")
        value_path = f"{path}.value"
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


def _getter(attr: Any, path: str) -> Getter:
    if not isinstance(attr, str):
        raise FilterError(path, "must be a string")
    root, dot, key = attr.partition(".")
    if root in FIELDS and not dot:
        return lambda device: device.get(root)
    if root in MAPS and key:
        return _map_getter(root, key)
    if root in FIELDS:
        raise FilterError(path, f"{root!r} has no sub-keys")
    if root in MAPS:
        raise FilterError(path, f"needs a key, e.g. {root}.plan")
    known = ", ".join(sorted(FIELDS)) + ", tags.<key>, attributes.<key>"
    raise FilterError(path, f"unknown attribute {attr!r}; expected one of {known}")


def _map_getter(root: str, key: str) -> Getter:
    def get(device: Mapping[str, Any]) -> Any:
        values = device.get(root)
        return values.get(key) if isinstance(values, Mapping) else None

    return get


def _scalar(attr: str, value: Any, path: str) -> str | int | float | bool:
    if isinstance(value, str):
        # Devices store ISO 3166 codes upper-cased, so "us" in a filter must still match.
        return value.upper() if attr == "country" else value
    if isinstance(value, bool) or _number(value) is not None:
        return _storable(value, path)
    raise FilterError(path, "must be a string, a finite number or a boolean")


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
    bound_number = None if attr in DATE_FIELDS else _number(value)
    if bound_number is not None:
        _storable(value, path)
        return _compare_by(_number, get, compare, bound_number)
    bound_instant = _instant(value) if isinstance(value, str) else None
    if bound_instant is not None:
        return _compare_by(_instant, get, compare, bound_instant)
    if attr in DATE_FIELDS:
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
    """Finite numbers as Decimal, because DynamoDB hands numbers back as Decimal."""
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
