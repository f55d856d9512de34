"""The experiment's statistics against published tables and closed forms, the winner they pick, and when
the rest of the audience gets it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from pushengine.experiments import (
    Arm,
    MeanArm,
    chi2_sf,
    chi_squared,
    decide,
    decide_means,
    incomplete_beta,
    large_enough,
    normal_sf,
    t_two_sided,
    upper_gamma_q,
    welch_t_test,
    z_test,
)
from pushengine.models import CampaignIn
from pushengine.rollout import rest_waves


@pytest.mark.parametrize(
    ("df", "x05", "x01"),
    [  # upper critical values of the chi-squared distribution (NIST/SEMATECH e-Handbook, table 1.3.6.7.4)
        (1, 3.841, 6.635), (2, 5.991, 9.210), (3, 7.815, 11.345), (4, 9.488, 13.277), (5, 11.070, 15.086),
        (6, 12.592, 16.812), (7, 14.067, 18.475), (8, 15.507, 20.090), (9, 16.919, 21.666),
        (10, 18.307, 23.209), (20, 31.410, 37.566), (30, 43.773, 50.892), (100, 124.342, 135.807),
    ],
)  # fmt: skip
def test_chi_squared_tail_matches_the_table(df: int, x05: float, x01: float) -> None:
    assert chi2_sf(x05, df) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(x01, df) == pytest.approx(0.01, abs=3e-5)


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 2.0, 4.0, 9.0, 25.0, 60.0])
def test_chi_squared_tail_closed_forms(x: float) -> None:
    # df 1: P(X > x) = erfc(sqrt(x/2)); df 2: exp(-x/2); df 4: exp(-x/2) (1 + x/2)
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-10)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10)
    assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-10)


@pytest.mark.parametrize(("a", "x"), [(1, 0.3), (3, 1.0), (3, 7.5), (10, 10.0), (25, 12.0), (25, 40.0)])
def test_upper_gamma_of_an_integer_is_the_poisson_tail(a: int, x: float) -> None:
    # Q(n, x) = exp(-x) * sum_{k<n} x^k / k!  (both branches: the series below a + 1, the fraction above)
    expected = math.exp(-x) * sum(x**k / math.factorial(k) for k in range(a))
    assert upper_gamma_q(a, x) == pytest.approx(expected, rel=1e-10)


def test_upper_gamma_published_values() -> None:
    # Abramowitz & Stegun 6.5 / DLMF 8.4: Q(1/2, x) = erfc(sqrt x); Q(10, 10) = 0.4579297144
    for x in (0.2, 1.0, 1.6, 5.0):
        assert upper_gamma_q(0.5, x) == pytest.approx(math.erfc(math.sqrt(x)), rel=1e-10)
    assert upper_gamma_q(10, 10) == pytest.approx(0.4579297144, abs=1e-9)
    assert upper_gamma_q(2.5, 0) == 1.0
    with pytest.raises(ValueError):
        upper_gamma_q(0, 1)


@pytest.mark.parametrize(("z", "p"), [(0.0, 0.5), (1.0, 0.158655), (1.644854, 0.05), (2.326348, 0.01),
                                      (-1.959964, 0.975)])  # fmt: skip
def test_normal_tail_matches_the_table(z: float, p: float) -> None:
    assert normal_sf(z) == pytest.approx(p, abs=1e-6)


def test_z_test_textbook_values() -> None:
    # 200/1000 vs 150/1000: pooled .175, SE sqrt(.175 * .825 * .002) = .0169926, z = 2.94245, p = 0.00326
    z, p = z_test(Arm("a", 200, 1000), Arm("b", 150, 1000)) or (0, 0)
    assert z == pytest.approx(2.94245, abs=1e-5) and p == pytest.approx(0.00326, abs=5e-5)
    assert z_test(Arm("a", 0, 10), Arm("b", 0, 10)) is None  # nothing to tell apart
    assert z_test(Arm("a", 1, 0), Arm("b", 1, 10)) is None


def test_chi_squared_by_hand() -> None:
    # 10/100, 20/100, 30/100: pooled .2, expected 20 and 80 per row: 5 + 1.25 + 0 + 0 + 5 + 1.25 = 12.5;
    # df 2, so p = exp(-12.5 / 2)
    statistic, df, p = chi_squared([Arm("a", 10, 100), Arm("b", 20, 100), Arm("c", 30, 100)]) or (0, 0, 0)
    assert statistic == pytest.approx(12.5) and df == 2 and p == pytest.approx(math.exp(-6.25))


def test_chi_squared_of_two_is_z_squared() -> None:
    a, b = Arm("a", 120, 1000), Arm("b", 100, 1000)
    statistic, df, p = chi_squared([a, b]) or (0, 0, 0)
    z, pz = z_test(a, b) or (0, 0)
    assert df == 1 and statistic == pytest.approx(z * z) and p == pytest.approx(pz)


def test_two_variants_the_clear_winner() -> None:
    out = decide([Arm("a", 150, 1000), Arm("b", 200, 1000)], 0.95, "default")
    assert out.winner == "b" and out.conclusive
    (c,) = out.comparisons
    assert (c.a, c.b, c.rate_a, c.rate_b) == ("a", "b", 0.15, 0.2)
    assert c.p_value == pytest.approx(0.00326, abs=5e-5) and c.conclusive


@pytest.mark.parametrize(("fallback", "winner"), [("default", "a"), ("best", "b")])
def test_two_variants_inconclusive_take_the_fallback(fallback: str, winner: str) -> None:
    # 100/1000 vs 120/1000: p = 0.1530, above 0.05
    out = decide([Arm("a", 100, 1000), Arm("b", 120, 1000)], 0.95, fallback)  # type: ignore[arg-type]
    assert out.winner == winner and not out.conclusive and f"fallback {fallback}" in out.reason
    assert out.comparisons[0].p_value == pytest.approx(0.1530, abs=5e-4)


def test_a_stricter_confidence_does_not_conclude() -> None:
    arms = [Arm("a", 200, 1000), Arm("b", 165, 1000)]  # p = 0.0465
    assert decide(arms, 0.95, "best").conclusive
    assert not decide(arms, 0.99, "best").conclusive


def test_too_few_outcomes_never_conclude() -> None:
    arms = [Arm("a", 0, 40), Arm("b", 6, 40)]  # expected opens 3 per variant
    assert not large_enough(arms)
    out = decide(arms, 0.95, "best")
    assert out.winner == "b" and not out.conclusive and "too few" in out.reason


def test_three_variants_bonferroni_makes_a_raw_win_inconclusive() -> None:
    # c at 130/1000 against a and b at 100/1000: raw p = 0.0355 each, Bonferroni x3 = 0.106;
    # chi-squared 6.129 on 2 df (p = 0.0467) says the variants differ, but not that c beats both.
    arms = [Arm("a", 100, 1000), Arm("b", 100, 1000), Arm("c", 130, 1000)]
    out = decide(arms, 0.95, "default")
    assert out.overall_p == pytest.approx(math.exp(-6.1287 / 2), abs=2e-4)
    by_pair = {(c.a, c.b): c for c in out.comparisons}
    assert set(by_pair) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert by_pair["a", "c"].p_value == pytest.approx(3 * 0.03548, abs=1e-3)
    assert by_pair["a", "b"].p_value == 1.0
    assert not any(c.conclusive for c in out.comparisons)
    assert out.winner == "a" and not out.conclusive


def test_three_variants_one_ahead_of_all() -> None:
    arms = [Arm("a", 100, 1000), Arm("b", 100, 1000), Arm("c", 160, 1000)]
    out = decide(arms, 0.95, "default")
    assert out.winner == "c" and out.conclusive and (out.overall_p or 1) < 0.05


def test_three_variants_no_difference_overall() -> None:
    arms = [Arm("a", 100, 1000), Arm("b", 105, 1000), Arm("c", 110, 1000)]
    out = decide(arms, 0.95, "best")
    assert out.winner == "c" and not out.conclusive and "chi-squared" in out.reason


def test_a_pairwise_win_without_the_overall_test_is_inconclusive() -> None:
    # c beats a (corrected p < .05) but not b: no variant is ahead of every other
    arms = [Arm("a", 100, 1000), Arm("b", 150, 1000), Arm("c", 155, 1000)]
    out = decide(arms, 0.95, "default")
    assert not out.conclusive and out.winner == "a"


def test_needs_two_variants() -> None:
    with pytest.raises(ValueError):
        decide([Arm("a", 1, 2)], 0.95, "default")


def _schedule(**fields: object) -> Any:
    body = {"name": "x", "message": {"title": "t", "body": "b"}, "schedule": fields}
    return CampaignIn.model_validate(body).schedule


def test_the_rest_goes_at_once_for_now_and_at() -> None:
    at = datetime(2027, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    (wave,) = rest_waves(_schedule(type="now"), "cmp_1", [], at)
    assert wave["wave_id"] == "w20270301T120001Z-rest" and wave["send_at"] == "2027-03-01T12:00:01+00:00"
    assert wave["zones"] == [] and wave["variants"] == ["rest"] and wave["schedule"] == "c-cmp_1-w20270301T120001Z-rest"


@pytest.mark.parametrize(
    ("decided_at", "expected"),
    [  # 09:00 local on 2027-03-01: Tokyo at 00:00Z, Berlin at 08:00Z, New York at 14:00Z
        ("2027-03-01T16:00:00+00:00",  # two hours after the last: each zone the next day at 09:00
         {"2027-03-02T00:00:00+00:00": ["Asia/Tokyo"], "2027-03-02T08:00:00+00:00": ["Europe/Berlin"],
          "2027-03-02T14:00:00+00:00": ["America/New_York"]}),
        ("2027-03-02T10:00:00+00:00",  # Tokyo's and Berlin's next day has passed: the day after
         {"2027-03-03T00:00:00+00:00": ["Asia/Tokyo"], "2027-03-03T08:00:00+00:00": ["Europe/Berlin"],
          "2027-03-02T14:00:00+00:00": ["America/New_York"]}),
    ],
)  # fmt: skip
def test_the_rest_goes_at_the_same_local_time_on_the_next_day_still_to_come(
    decided_at: str, expected: dict[str, list[str]]
) -> None:
    schedule = _schedule(type="local_time", date="2027-03-01", time="09:00")
    tests = [{"wave_id": "w1", "send_at": "2027-03-01T00:00:00+00:00", "zones": ["Asia/Tokyo"]},
             {"wave_id": "w2", "send_at": "2027-03-01T08:00:00+00:00", "zones": ["Europe/Berlin", "Not/AZone"]},
             {"wave_id": "w3", "send_at": "2027-03-01T14:00:00+00:00", "zones": ["America/New_York"]}]  # fmt: skip
    out = rest_waves(schedule, "cmp_1", tests, datetime.fromisoformat(decided_at))
    assert {w["send_at"]: w["zones"] for w in out} == expected
    assert all(w["variants"] == ["rest"] and w["wave_id"].endswith("-rest") for w in out)
    assert rest_waves(schedule, "cmp_1", [*tests, *out], datetime.fromisoformat(decided_at)) == out  # not twice


# Revenue per device: Welch's t-test.

WELCH_EXAMPLES = [  # Wikipedia, "Welch's t-test", Examples 1 and 2 (the samples, and Welch's t, df, p)
    ([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4],
     [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4],
     -2.46, 25.0, 0.021),
    ([17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8],
     [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5,
      21.5, 21.8],
     -1.57, 9.9, 0.149),
]  # fmt: skip


@pytest.mark.parametrize(("first", "second", "t", "df", "p"), WELCH_EXAMPLES)
def test_welch_matches_the_published_examples(
    first: list[float], second: list[float], t: float, df: float, p: float
) -> None:
    found = welch_t_test(MeanArm.of("a", first), MeanArm.of("b", second))
    assert found is not None
    assert (round(found[0], 2), round(found[1], 1), round(found[2], 3)) == (t, df, p)
    swapped = welch_t_test(MeanArm.of("b", second), MeanArm.of("a", first)) or (0, 0, 0)
    assert swapped[0] == pytest.approx(-found[0]) and swapped[1:] == pytest.approx(found[1:])


@pytest.mark.parametrize(
    ("df", "t05", "t01"),
    [  # upper critical values of Student's t at 0.025 and 0.005, i.e. two-sided 0.05 and 0.01
        # (NIST/SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.2)
        (1, 12.706, 63.657), (2, 4.303, 9.925), (3, 3.182, 5.841), (5, 2.571, 4.032), (10, 2.228, 3.169),
        (20, 2.086, 2.845), (30, 2.042, 2.750), (100, 1.984, 2.626),
    ],
)  # fmt: skip
def test_student_t_tail_matches_the_table(df: int, t05: float, t01: float) -> None:
    assert t_two_sided(t05, df) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided(-t01, df) == pytest.approx(0.01, abs=5e-5)


@pytest.mark.parametrize("t", [0.0, 0.1, 0.5, 1.0, 3.0, 25.0])
def test_student_t_tail_closed_forms(t: float) -> None:
    # df 1 (Cauchy): 1 - 2 atan(t) / pi; df 2: 1 - t / sqrt(2 + t^2); df -> infinity: the normal's
    assert t_two_sided(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi, rel=1e-9, abs=1e-15)
    assert t_two_sided(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9, abs=1e-15)
    assert t_two_sided(t, 1e7) == pytest.approx(math.erfc(t / math.sqrt(2)), rel=1e-5, abs=1e-15)


@pytest.mark.parametrize(("a", "b", "x"), [(0.5, 0.5, 0.3), (2, 3, 0.1), (2, 3, 0.9), (7.5, 0.5, 0.6), (40, 40, 0.55)])
def test_incomplete_beta_identities(a: float, b: float, x: float) -> None:
    # I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b; I_x(a, b) = 1 - I_1-x(b, a); I_1/2(a, a) = 1/2
    assert incomplete_beta(a, 1, x) == pytest.approx(x**a, rel=1e-10)
    assert incomplete_beta(1, b, x) == pytest.approx(1 - (1 - x) ** b, rel=1e-10)
    assert incomplete_beta(a, b, x) == pytest.approx(1 - incomplete_beta(b, a, 1 - x), rel=1e-10, abs=1e-14)
    assert incomplete_beta(a, a, 0.5) == pytest.approx(0.5, rel=1e-10)
    assert (incomplete_beta(a, b, 0.0), incomplete_beta(a, b, 1.0)) == (0.0, 1.0)
    with pytest.raises(ValueError):
        incomplete_beta(0, b, x)


def test_welch_of_equal_sizes_and_variances_is_students_pooled_test() -> None:
    # n = 8 each, sample variances both 4: Welch's df is 2n - 2 = 14 and its t the pooled t = 1.5 / sqrt(1)
    a, b = _mean_arm("a", 8, 11.5, 4.0), _mean_arm("b", 8, 10.0, 4.0)
    t, df, p = welch_t_test(a, b) or (0, 0, 0)
    assert (t, df) == (pytest.approx(1.5), pytest.approx(14.0))
    assert p == pytest.approx(t_two_sided(1.5, 14))


def test_revenue_per_device_counts_the_devices_that_paid_nothing() -> None:
    arm = MeanArm.of("a", [0.0, 0.0, 0.0, 4.0, 6.0])  # two of five devices paid
    assert (arm.devices, arm.rate, arm.variance) == (5, 2.0, pytest.approx(8.0))
    assert welch_t_test(arm, MeanArm.of("b", [3.0])) is None  # one device has no variance
    assert welch_t_test(MeanArm.of("a", [0.0, 0.0]), MeanArm.of("b", [0.0, 0.0, 0.0])) is None  # nobody paid


def _mean_arm(name: str, devices: int, mean: float, variance: float) -> MeanArm:
    total = devices * mean
    return MeanArm(name, devices, total, variance * (devices - 1) + total * total / devices)


def test_revenue_two_variants_the_clear_winner() -> None:
    a, b = _mean_arm("a", 100, 1.0, 1.0), _mean_arm("b", 100, 0.7, 1.0)  # t = 0.3 / sqrt(.02) = 2.12, p = .035
    d = decide_means([b, a], 0.95, "default")
    assert (d.winner, d.conclusive) == ("a", True)
    [c] = d.comparisons
    assert (c.a, c.b, c.rate_a, c.rate_b, c.conclusive) == ("b", "a", pytest.approx(0.7), pytest.approx(1.0), True)
    assert c.p_value == pytest.approx(t_two_sided(0.3 / math.sqrt(0.02), 198.0), rel=1e-9)
    assert "revenue per device" in d.reason
    assert decide_means([b, a], 0.99, "default").winner == "b"  # p .035 is not below .01: the fallback


def test_revenue_three_variants_bonferroni_makes_a_raw_win_inconclusive() -> None:
    arms = [_mean_arm("a", 100, 1.0, 1.0), _mean_arm("b", 100, 0.7, 1.0), _mean_arm("c", 100, 0.7, 1.0)]
    d = decide_means(arms, 0.95, "default")
    raw = (welch_t_test(arms[0], arms[1]) or (0, 0, 1))[2]
    assert raw < 0.05 < 3 * raw  # conclusive alone, not after the three pairs' correction
    assert (d.winner, d.conclusive) == ("a", False) and "fallback default" in d.reason
    assert [c.p_value for c in d.comparisons][:2] == [pytest.approx(3 * raw)] * 2
    assert decide_means(arms[1:] + arms[:1], 0.95, "best").winner == "a"  # best: the highest mean
    far = [_mean_arm("a", 400, 1.0, 1.0), *arms[1:]]
    assert (decide_means(far, 0.95, "default").winner, decide_means(far, 0.95, "default").conclusive) == ("a", True)


def test_revenue_too_few_devices_never_conclude() -> None:
    d = decide_means([MeanArm.of("a", [100.0]), MeanArm.of("b", [0.0, 0.0, 1.0])], 0.95, "best")
    assert (d.winner, d.conclusive) == ("a", False) and "too few devices" in d.reason
    with pytest.raises(ValueError):
        decide_means([MeanArm.of("a", [1.0, 2.0])], 0.95, "default")
