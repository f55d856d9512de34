"""The bench's verdict on the hand-rolled transports: same-run medians in, keep or switch out."""

from __future__ import annotations

from bench.engine import Measurement
from bench.transports import KEEP_MARGIN, verdicts


def phase(name: str, rate: float, cpu_us: float, n: int = 1000) -> Measurement:
    return Measurement(name, n, n / rate, cpu_us * n / 1e6)


def test_kept_when_it_wins_on_cpu_though_the_stand_in_caps_both_rates() -> None:
    report = verdicts({"android": [phase("engine android", 1000, 100),
                                   phase("engine android on httpx HTTP/1.1", 1000, 150)]})  # fmt: skip
    fcm = report["android"]
    assert fcm["against"]["engine android on httpx HTTP/1.1"] == {
        "drop_in": True, "rate_ratio": 1.0, "cpu_ratio": 1.5, "stock_rate": 1000.0, "stock_cpu_us": 150.0,
    }  # fmt: skip
    assert fcm["keep"] is True and fcm["margin"] == 1.5


def test_switched_when_the_drop_in_stock_transport_is_within_the_margin() -> None:
    report = verdicts(
        {"ios": [phase("engine ios", 1000, 100), phase("engine ios on httpx HTTP/2 (h2)", 900, 110)]}
    )
    apns = report["ios"]
    assert apns["closest_stock"] == "engine ios on httpx HTTP/2 (h2)"
    assert apns["margin"] == 1.11 and apns["margin"] < KEEP_MARGIN
    assert apns["keep"] is False


def test_a_library_that_is_no_drop_in_is_shown_but_decides_nothing() -> None:
    report = verdicts({"ios": [
        phase("engine ios", 1000, 100),
        phase("engine ios on httpx HTTP/2 (h2)", 400, 300),  # far behind: decides
        phase("engine ios on aioapns", 900, 110),  # close, but the provider cannot take it as its transport
    ]})  # fmt: skip
    apns = report["ios"]
    assert apns["against"]["engine ios on aioapns"]["cpu_ratio"] == 1.1
    assert apns["closest_stock"] == "engine ios on httpx HTTP/2 (h2)" and apns["margin"] == 3.0
    assert apns["keep"] is True


def test_a_stock_contender_that_failed_is_shown_but_decides_nothing() -> None:
    failed = Measurement("engine ios on httpx HTTP/2 (h2)", 0, 0.0, 0.0, note="n/a: ConnectError")
    report = verdicts({"ios": [phase("engine ios", 1000, 100), failed]})
    apns = report["ios"]
    assert apns["against"]["engine ios on httpx HTTP/2 (h2)"] == {
        "drop_in": True,
        "note": "n/a: ConnectError",
    }
    assert apns["closest_stock"] is None and apns["keep"] is False


def test_ratios_pair_each_round_with_its_neighbour_not_the_medians() -> None:
    """A slow spell hits a round's pair alike: round 2 ran slow for both, so each round is 1.2x."""
    engine, stock = phase("engine ios", 1000, 100), phase("engine ios on httpx HTTP/2 (h2)", 1000, 120)
    engine.extra = {"rounds": [1200, 400, 900], "rounds_cpu_us": [100, 300, 90]}
    stock.extra = {"rounds": [1000, 0, 750], "rounds_cpu_us": [120, 360, 0]}  # round 2's rate, 3's CPU failed
    against = verdicts({"ios": [engine, stock]})["ios"]["against"]["engine ios on httpx HTTP/2 (h2)"]
    assert (against["rate_ratio"], against["cpu_ratio"]) == (1.2, 1.2)  # the medians alone: 1.0x on rate
