"""The client-event window against moto with the template's table: a minute's allowance, refusals that
take no slot, and the next minute's fresh allowance, on a clock the test drives."""

from __future__ import annotations

import pytest

from pushengine.dal.event_rate import EventRate

pytestmark = pytest.mark.integration

MINUTE = 29_000_000 * 60.0  # a minute boundary (epoch seconds), nowhere near the wall clock


def test_a_minute_allows_the_limit_then_says_how_long_to_wait(names: dict[str, str]) -> None:
    rate = EventRate(names["DeliveryStateTable"])
    assert [rate.take("app_a", "device#busy", 3, now=MINUTE + 1) for _ in range(3)] == [None] * 3
    assert rate.take("app_a", "device#busy", 3, now=MINUTE + 1) == 59  # refused, until the next minute
    assert rate.take("app_a", "device#busy", 3, now=MINUTE + 59.5) == 1  # never 0: Retry-After >= 1
    assert rate.take("app_a", "device#calm", 3, now=MINUTE + 2) is None  # another device has its own
    assert rate.take("app_b", "device#busy", 3, now=MINUTE + 2) is None  # and another app
    assert rate.take("app_a", "device#busy", 3, now=MINUTE + 60) is None  # the next minute starts afresh
    assert rate.take("app_a", "device#busy", 4, now=MINUTE + 30) is None  # refusals took no slot: 3 used
