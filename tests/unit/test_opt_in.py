"""The soft prompt's counts (pushengine.opt_in): the report body, and the app's answer from its hour items."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pushengine import opt_in
from pushengine.analytics import Granularity

pytestmark = pytest.mark.unit

PROMPT = "7f0c2a4e-1b9d-4c55-9e62-0d3f1b8a6c11"


@pytest.mark.parametrize(
    ("hours", "granularity", "expected"),
    [
        ([], "day", {"granularity": "day", "prompted": 0, "accepted": 0, "declined": 0, "accept_rate": None,
                     "decline_rate": None, "variants": {}, "buckets": []}),
        (
            [{"hour": "2026-12-07T09", "stats": {"prompted": 3, "accepted": 1},
              "vstats": {"a": {"prompted": 3, "accepted": 1}}},
             {"hour": "2026-12-07T14", "stats": {"prompted": 1, "declined": 1},
              "vstats": {"b": {"prompted": 1, "declined": 1}}},
             {"hour": "2026-12-08T00", "stats": {"prompted": 2, "accepted": 2}, "vstats": {}}],
            "day",
            {"granularity": "day", "prompted": 6, "accepted": 3, "declined": 1, "accept_rate": 0.5,
             "decline_rate": 0.1667,
             "variants": {"a": {"prompted": 3, "accepted": 1, "declined": 0, "accept_rate": 0.3333, "decline_rate": 0.0},
                          "b": {"prompted": 1, "accepted": 0, "declined": 1, "accept_rate": 0.0, "decline_rate": 1.0}},
             "buckets": [
                 {"start": "2026-12-07T00:00:00Z", "prompted": 4, "accepted": 1, "declined": 1, "accept_rate": 0.25,
                  "decline_rate": 0.25},
                 {"start": "2026-12-08T00:00:00Z", "prompted": 2, "accepted": 2, "declined": 0, "accept_rate": 1.0,
                  "decline_rate": 0.0}]},
        ),
        (
            [{"hour": "2026-12-07T09", "stats": {"prompted": 2}, "vstats": {}},
             {"hour": "2026-12-07T10", "stats": {"accepted": 1}, "vstats": {}}],
            "hour",
            {"granularity": "hour", "prompted": 2, "accepted": 1, "declined": 0, "accept_rate": 0.5,
             "decline_rate": 0.0, "variants": {},
             "buckets": [
                 {"start": "2026-12-07T09:00:00Z", "prompted": 2, "accepted": 0, "declined": 0, "accept_rate": 0.0,
                  "decline_rate": 0.0},
                 {"start": "2026-12-07T10:00:00Z", "prompted": 0, "accepted": 1, "declined": 0, "accept_rate": None,
                  "decline_rate": None}]},
        ),
    ],
)  # fmt: skip
def test_summary(hours: list[dict[str, Any]], granularity: Granularity, expected: dict[str, Any]) -> None:
    assert opt_in.summary(hours, granularity) == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "maybe", "prompt_id": PROMPT}, "outcome"),
        ({"outcome": "prompted"}, "prompt_id"),
        ({"outcome": "prompted", "prompt_id": "short"}, "prompt_id"),
        ({"outcome": "prompted", "prompt_id": "has spaces in it"}, "prompt_id"),
        ({"outcome": "prompted", "prompt_id": PROMPT, "variant": "x" * 33}, "variant"),
        ({"outcome": "prompted", "prompt_id": PROMPT, "device_id": "d1"}, "device_id"),
    ],
)
def test_a_bad_report_names_its_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        opt_in.OptInReport.model_validate(body)
    assert raised.value.errors()[0]["loc"][0] == field


def test_a_report() -> None:
    report = opt_in.OptInReport.model_validate({"outcome": "accepted", "prompt_id": PROMPT, "variant": "sale"})
    assert (report.outcome, report.prompt_id, report.variant) == ("accepted", PROMPT, "sale")
