"""Experiments that pick their winner: the statistics, written from the formulas (no scipy in the layer).

Each variant is a proportion: the devices that did the metric (opened, clicked, converted, or for
`revenue` converted with revenue) over the devices it targeted (intent-to-treat, as `pushengine.lift`).

- Two variants: the two-proportion z-test with the pooled standard error, two-sided.
- More: Pearson's chi-squared across all variants (k x 2 table, k - 1 degrees of freedom), and the
  pairwise z-tests with Bonferroni's correction (each p-value multiplied by the k(k-1)/2 pairs, capped
  at 1). A winner is conclusive when the overall test is (more than two) and the best variant beats
  every other variant at the corrected level.
- The normal approximation is trusted only when every cell's expected count (pooled rate times the
  group's size, and its complement) is at least MIN_EXPECTED; below that nothing is conclusive.

Revenue as a mean per device (`MeanArm`, `decide_means`) is Welch's t-test for each pair of variants, with
the same Bonferroni correction for more than two: see its section below.

The normal's survival function is `math.erfc`; the chi-squared's is the regularized upper incomplete
gamma function Q(k/2, x/2), from its series below a + 1 and its continued fraction above (Numerical
Recipes, 3rd ed., section 6.2: gser and gcf with the modified Lentz method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

MIN_EXPECTED = 5.0  # the textbook rule for the chi-squared (and normal) approximation
_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 500

Fallback = Literal["default", "best"]


def storable(p: float | None) -> float | None:
    """A p-value as stored and answered: six significant digits, and 0 below DynamoDB's smallest number."""
    if p is None:
        return None
    return 0.0 if p < 1e-100 else float(f"{p:.6g}")


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def two_sided(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def upper_gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x >= 0."""
    if a <= 0 or x < 0:
        raise ValueError(f"Q(a, x) needs a > 0 and x >= 0, not a={a}, x={x}")
    if x == 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # the series for P(a, x) converges fast here
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # the continued fraction for Q(a, x), modified Lentz
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return math.exp(log_front) * h


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for X chi-squared with `df` degrees of freedom."""
    return upper_gamma_q(df / 2, x / 2) if x > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's outcome: `successes` of `trials` devices did the metric."""

    name: str
    successes: int
    trials: int

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


def z_test(a: Arm, b: Arm) -> tuple[float, float] | None:
    """(z, two-sided p) of the pooled two-proportion z-test; None when either arm is empty or the pooled
    rate is 0 or 1 (nothing to tell apart)."""
    if not a.trials or not b.trials:
        return None
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if se == 0:
        return None
    z = (a.rate - b.rate) / se
    return z, two_sided(z)


def chi_squared(arms: Sequence[Arm]) -> tuple[float, int, float] | None:
    """(statistic, degrees of freedom, p) of Pearson's test of equal rates across the arms (a k x 2
    table); None when an arm is empty or nobody (or everybody) did the metric."""
    if any(not arm.trials for arm in arms):
        return None
    total = sum(arm.trials for arm in arms)
    pooled = sum(arm.successes for arm in arms) / total
    if pooled in (0.0, 1.0):
        return None
    statistic = 0.0
    for arm in arms:
        for observed, share in ((arm.successes, pooled), (arm.trials - arm.successes, 1 - pooled)):
            expected = arm.trials * share
            statistic += (observed - expected) ** 2 / expected
    df = len(arms) - 1
    return statistic, df, chi2_sf(statistic, df)


def large_enough(arms: Sequence[Arm]) -> bool:
    """Every cell's expected count under equal rates is at least MIN_EXPECTED."""
    total = sum(arm.trials for arm in arms)
    if not total:
        return False
    pooled = sum(arm.successes for arm in arms) / total
    return all(min(arm.trials * pooled, arm.trials * (1 - pooled)) >= MIN_EXPECTED for arm in arms)


@dataclass(frozen=True, slots=True)
class Comparison:
    a: str
    b: str
    rate_a: float
    rate_b: float
    p_value: float | None  # Bonferroni-corrected when more than two variants are compared
    conclusive: bool

    def view(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "rate_a": self.rate_a, "rate_b": self.rate_b,
                "p_value": storable(self.p_value), "conclusive": self.conclusive}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decision:
    winner: str
    conclusive: bool
    reason: str
    comparisons: list[Comparison] = field(default_factory=list)
    overall_p: float | None = None  # the chi-squared test's, with more than two variants


def best(arms: Sequence[Arm]) -> Arm:
    """The arm with the highest observed rate; the first of equals."""
    return max(arms, key=lambda arm: arm.rate)  # max keeps the first of equal keys


def decide(arms: Sequence[Arm], min_confidence: float, fallback: Fallback) -> Decision:
    """The winner of the experiment (arms in the campaign's variant order), or its fallback when nothing
    is conclusive at `min_confidence`: `default` the first variant, `best` the highest observed rate."""
    if len(arms) < 2:
        raise ValueError("an experiment compares at least two variants")
    alpha = 1 - min_confidence
    pairs = list(combinations(arms, 2))
    factor = len(pairs) if len(arms) > 2 else 1
    enough = large_enough(arms)
    comparisons = []
    for a, b in pairs:
        tested = z_test(a, b)
        p = None if tested is None else min(1.0, tested[1] * factor)
        comparisons.append(
            Comparison(a.name, b.name, a.rate, b.rate, p, enough and p is not None and p < alpha)
        )
    overall = chi_squared(arms) if len(arms) > 2 else None
    overall_p = overall[2] if overall else None
    top = best(arms)
    fallen = arms[0] if fallback == "default" else top
    if not enough:
        return Decision(fallen.name, False, f"too few outcomes to conclude (an expected count under "
                        f"{MIN_EXPECTED:g}); fallback {fallback}", comparisons, overall_p)  # fmt: skip
    if overall_p is not None and not overall_p < alpha:
        return Decision(fallen.name, False, f"no difference across the variants at {min_confidence:g} "
                        f"(chi-squared p={overall_p:.4g}); fallback {fallback}", comparisons, overall_p)  # fmt: skip
    beaten = [c for c in comparisons if top.name in (c.a, c.b)]
    if all(c.conclusive for c in beaten) and all(top.rate > (c.rate_b if c.a == top.name else c.rate_a)
                                                 for c in beaten):  # fmt: skip
        worst = max(c.p_value or 0.0 for c in beaten)
        return Decision(top.name, True, f"{top.name} has the highest rate, ahead of every other variant at "
                        f"{min_confidence:g} (p={worst:.4g})", comparisons, overall_p)  # fmt: skip
    return Decision(fallen.name, False, f"no variant ahead of every other at {min_confidence:g}; "
                    f"fallback {fallback}", comparisons, overall_p)  # fmt: skip


# Revenue as a mean per device: Welch's t-test (unequal variances) on each variant's sufficient statistics.
# The t statistic t = (m_a - m_b) / sqrt(v_a/n_a + v_b/n_b) with the sample variances v (n - 1 denominator),
# its degrees of freedom from the Welch-Satterthwaite equation
#   df = (v_a/n_a + v_b/n_b)^2 / ((v_a/n_a)^2/(n_a - 1) + (v_b/n_b)^2/(n_b - 1)),
# and the two-sided p-value of Student's t with (real) df: P(|T| > t) = I_x(df/2, 1/2), x = df/(df + t^2),
# the regularized incomplete beta function from its continued fraction (Numerical Recipes, 3rd ed., section
# 6.4: betai and betacf, modified Lentz).

MIN_DEVICES = 2  # a sample variance needs two devices in each arm


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if a <= 0 or b <= 0 or not 0 <= x <= 1:
        raise ValueError(f"I_x(a, b) needs a, b > 0 and 0 <= x <= 1, not a={a}, b={b}, x={x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):  # the fraction converges fast here; else by the symmetry I_x(a,b) = 1 - I_1-x(b,a)
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = 1 / (_TINY if abs(d) < _TINY else d)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + numerator * d
            d = 1 / (_TINY if abs(d) < _TINY else d)
            c = 1 + numerator / c
            c = _TINY if abs(c) < _TINY else c
            h *= d * c
        if abs(d * c - 1) < _EPS:
            break
    return h


def t_two_sided(t: float, df: float) -> float:
    """P(|T| > |t|) for T Student's t with `df` (real, > 0) degrees of freedom."""
    if df <= 0:
        raise ValueError(f"Student's t needs df > 0, not {df}")
    return incomplete_beta(df / 2, 0.5, df / (df + t * t))


@dataclass(frozen=True, slots=True)
class MeanArm:
    """One variant's per-device amounts as sufficient statistics: `devices` targeted, the sum of what each
    brought (`total`, zero for the devices that brought nothing) and the sum of each device's amount squared."""

    name: str
    devices: int
    total: float
    total_squares: float

    @property
    def rate(self) -> float:  # the mean per device (the name `rate` shared with Arm, as the comparisons show it)
        return self.total / self.devices if self.devices else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 denominator); never below 0 from rounding."""
        if self.devices < MIN_DEVICES:
            return 0.0
        return max(0.0, (self.total_squares - self.total * self.total / self.devices) / (self.devices - 1))

    @classmethod
    def of(cls, name: str, amounts: Sequence[float]) -> MeanArm:
        return cls(name, len(amounts), math.fsum(amounts), math.fsum(x * x for x in amounts))


def welch_t_test(a: MeanArm, b: MeanArm) -> tuple[float, float, float] | None:
    """(t, Welch-Satterthwaite df, two-sided p) of Welch's test of equal means; None when an arm has fewer
    than two devices or neither arm varies (nothing to tell apart)."""
    if a.devices < MIN_DEVICES or b.devices < MIN_DEVICES:
        return None
    ea, eb = a.variance / a.devices, b.variance / b.devices  # each mean's squared standard error
    if ea + eb == 0:
        return None
    t = (a.rate - b.rate) / math.sqrt(ea + eb)
    df = (ea + eb) ** 2 / (ea * ea / (a.devices - 1) + eb * eb / (b.devices - 1))
    return t, df, t_two_sided(t, df)


def decide_means(arms: Sequence[MeanArm], min_confidence: float, fallback: Fallback) -> Decision:
    """The revenue experiment's winner by mean per device (Welch's t-test for each pair, Bonferroni for more
    than two variants), or its fallback when nothing is conclusive at `min_confidence`."""
    if len(arms) < 2:
        raise ValueError("an experiment compares at least two variants")
    alpha = 1 - min_confidence
    pairs = list(combinations(arms, 2))
    factor = len(pairs) if len(arms) > 2 else 1
    comparisons = []
    for a, b in pairs:
        tested = welch_t_test(a, b)
        p = None if tested is None else min(1.0, tested[2] * factor)
        comparisons.append(Comparison(a.name, b.name, a.rate, b.rate, p, p is not None and p < alpha))
    top = max(arms, key=lambda arm: arm.rate)
    fallen = arms[0] if fallback == "default" else top
    if any(arm.devices < MIN_DEVICES for arm in arms):
        return Decision(fallen.name, False, f"too few devices to conclude (a variant under {MIN_DEVICES}); "
                        f"fallback {fallback}", comparisons)  # fmt: skip
    beaten = [c for c in comparisons if top.name in (c.a, c.b)]
    if all(c.conclusive for c in beaten) and all(top.rate > (c.rate_b if c.a == top.name else c.rate_a)
                                                 for c in beaten):  # fmt: skip
        worst = max(c.p_value or 0.0 for c in beaten)
        return Decision(top.name, True, f"{top.name} has the highest revenue per device, ahead of every other "
                        f"variant at {min_confidence:g} (Welch p={worst:.4g})", comparisons)  # fmt: skip
    return Decision(fallen.name, False, f"no variant's revenue per device ahead of every other at "
                    f"{min_confidence:g}; fallback {fallback}", comparisons)  # fmt: skip
