"""The two-proportion z-test against published values, and when a sample is too small to conclude."""

from __future__ import annotations

import math

import pytest

from pushengine.lift import TOO_SMALL, lift, p_value, two_proportions


@pytest.mark.parametrize(
    ("z", "p"),
    [  # two-sided tail areas of the standard normal (any statistics table)
        (0.0, 1.0), (1.0, 0.3173), (1.6449, 0.1000), (1.96, 0.0500), (2.3263, 0.0200),
        (2.5758, 0.0100), (3.0, 0.0027), (3.2905, 0.0010), (-1.96, 0.0500),
    ],
)  # fmt: skip
def test_p_value_matches_the_normal_table(z: float, p: float) -> None:
    assert p_value(z) == pytest.approx(p, abs=5e-5)


def test_textbook_example() -> None:
    # 120 of 1,000 against 100 of 1,000: pooled p = 0.11, SE = sqrt(.11*.89*(2/1000)) = 0.013994,
    # z = 0.02 / 0.013994 = 1.4292, two-sided p = 0.1530; Wald interval 0.02 ± 1.96 * 0.013986.
    out = two_proportions(120, 1000, 100, 1000)
    assert out["rate"] == 0.12 and out["holdout_rate"] == 0.1
    assert out["absolute"] == pytest.approx(0.02)
    assert out["relative"] == pytest.approx(0.2)
    assert out["p_value"] == pytest.approx(0.1530, abs=5e-4)
    low, high = out["ci95"]
    spread = math.sqrt(0.12 * 0.88 / 1000 + 0.1 * 0.9 / 1000)
    assert low == pytest.approx(0.02 - 1.959964 * spread) and high == pytest.approx(0.02 + 1.959964 * spread)
    assert low == pytest.approx(-0.00741, abs=1e-5) and high == pytest.approx(0.04741, abs=1e-5)
    assert out["conclusive"] and "note" not in out


def test_a_significant_difference() -> None:
    # 200/1000 vs 150/1000: pooled .175, SE .016992, z = 2.9426, p = 0.00326
    out = two_proportions(200, 1000, 150, 1000)
    assert out["p_value"] == pytest.approx(0.00326, abs=5e-5)
    assert out["ci95"][0] > 0


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(4, 100, 10, 100), (10, 100, 3, 20), (10, 12, 10, 100)])
def test_too_small_to_conclude(x1: int, n1: int, x2: int, n2: int) -> None:
    out = two_proportions(x1, n1, x2, n2)
    assert out["conclusive"] is False and out["note"] == TOO_SMALL


def test_no_holdout_devices_yet() -> None:
    out = two_proportions(5, 50, 0, 0)
    assert out["ci95"] is None and out["p_value"] is None and out["relative"] is None
    assert not out["conclusive"]


def test_lift_per_variant_against_the_holdout() -> None:
    stats = {"a": {"targeted": 1000, "converted": 120}, "b": {"targeted": 1000, "converted": 200},
             "holdout": {"targeted": 1000, "converted": 100}}  # fmt: skip
    out = lift(stats, "holdout")
    assert set(out) == {"a", "b"}
    assert out["a"]["p_value"] == pytest.approx(0.1530, abs=5e-4)
    assert out["b"]["absolute"] == pytest.approx(0.1)
