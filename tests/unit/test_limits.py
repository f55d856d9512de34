"""DynamoDB's number range and item size, as the API checks them before anything is stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pushengine.audience import FilterError, validate_filter
from pushengine.campaigns import check_stored_size
from pushengine.errors import InvalidInput
from pushengine.limits import DYNAMO_MAX_ITEM_BYTES, heaviest_part, item_size, number_problem, value_size

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value",
    [0, 0.0, -0.0, 1, -1, 1.5, 1e-130, -1e-130, 9.99e125, -9.99e125, 10**125, 10**50,
     12345678901234567890123456789012345678, 12345678901234567890123456789012345678 * 10**80,
     Decimal("9.9999999999999999999999999999999999999E+125"), True, "1e999", None],
)  # fmt: skip
def test_numbers_dynamodb_holds_pass(value: Any) -> None:
    assert number_problem(value) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1e300, "out of range"),
        (-1e300, "out of range"),
        (1e126, "out of range"),
        (10**126, "out of range"),
        (1e-300, "out of range"),
        (1e-131, "out of range"),
        (float("inf"), "finite"),
        (float("-inf"), "finite"),
        (float("nan"), "finite"),
        (Decimal("NaN"), "finite"),
        (12345678901234567890123456789012345678901, "38 significant digits"),  # 41 digits
        (123456789012345678901234567890123456789, "38 significant digits"),  # 39
    ],
)
def test_numbers_dynamodb_refuses_are_named(value: Any, reason: str) -> None:
    problem = number_problem(value)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"a": "xy"}, 1 + 2),
        ({"é": "é"}, 2 + 2),  # UTF-8 bytes, names and values alike
        ({"n": 123}, 1 + 3),  # 3 significant digits: 2 bytes + 1
        ({"n": 1000000}, 1 + 2),  # trailing zeros are not significant
        ({"n": Decimal("0.000123")}, 1 + 3),
        ({"b": True, "z": None}, 2 + 2),
        ({"m": {}}, 1 + 3),
        ({"l": []}, 1 + 3),
        ({"m": {"k": "v"}}, 1 + 3 + 1 + 1 + 1),  # map overhead 3, 1 per element, its name and value
        ({"l": ["ab", 1]}, 1 + 3 + (1 + 2) + (1 + 2)),
        ({"s": {"ab", "c"}}, 1 + 3),  # a set counts its members only
    ],
)
def test_item_size_counts_as_dynamodb_does(item: dict[str, Any], size: int) -> None:
    assert item_size(item) == size


def test_value_size_refuses_what_dynamodb_has_no_type_for() -> None:
    with pytest.raises(TypeError):
        value_size(object())


def test_the_heaviest_part_names_the_one_thing_to_shorten() -> None:
    spec = {"name": "n", "message": {"title": "t", "localizations": {f"l{i}": "x" * 1000 for i in range(50)}}}
    assert heaviest_part(spec, "body")[0] == "body.message.localizations"
    one_big = {"message": {"localizations": {"de": "x" * 1000, "fr": "y"}}, "name": "n"}
    assert heaviest_part(one_big, "body")[0] == "body.message.localizations.de"
    variants = {"variants": [{"message": "x" * 100} for _ in range(10)]}
    assert heaviest_part(variants, "body")[0] == "body.variants"


def _campaign(localizations: int) -> dict[str, Any]:
    spec = {"name": "n", "message": {"title": "t", "body": "b",
            "localizations": {f"l{i}": {"title": "t" * 256, "body": "b" * 2048} for i in range(localizations)}}}  # fmt: skip
    return {"app_id": "app_1", "campaign_id": "cmp_1", "spec": spec, "waves": [], "stats": {}, "status": "x"}


def test_a_campaign_over_the_item_limit_is_refused_naming_what_to_shorten() -> None:
    check_stored_size(_campaign(170))  # about 392 KB: fits
    assert item_size(_campaign(178)) > DYNAMO_MAX_ITEM_BYTES
    with pytest.raises(InvalidInput) as caught:
        check_stored_size(_campaign(178))
    assert caught.value.field == "body.message.localizations"
    assert "shorten body.message.localizations" in caught.value.reason


def test_filters_refuse_unstorable_numbers_and_long_in_lists() -> None:
    with pytest.raises(FilterError, match=r"audience.value\[1\]: has more than 38"):
        validate_filter({"attr": "tags.n", "op": "in", "value": [1, 10**40 + 1]})
    with pytest.raises(FilterError, match=r"audience.value: out of range"):
        validate_filter({"attr": "tags.n", "op": "gt", "value": 1e-300})
    with pytest.raises(FilterError, match=r"audience.value: more than 1000 values"):
        validate_filter({"attr": "tags.n", "op": "in", "value": list(range(1001))})
    assert validate_filter({"attr": "tags.n", "op": "in", "value": list(range(1000))})
