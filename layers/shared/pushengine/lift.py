"""Lift of each variant over the holdout: conversion rates and a two-proportion z-test.

Rates are intent-to-treat: converted devices over targeted devices of the group (a variant's devices
that were held back by quiet hours or caps still count, as the holdout's devices do). The p-value uses
the pooled standard error (the null hypothesis: equal rates); the 95% interval of the absolute lift
uses the unpooled one (Wald). The normal approximation is trusted only when each group has at least
MIN_OUTCOMES conversions and as many non-conversions; below that the answer says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
MIN_OUTCOMES = 5
TOO_SMALL = "too small to conclude"


def p_value(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> dict[str, Any]:
    """Group 1 (the variant) against group 2 (the holdout): x conversions out of n devices each."""
    rate = x1 / n1 if n1 else 0.0
    base = x2 / n2 if n2 else 0.0
    absolute = rate - base
    out: dict[str, Any] = {
        "rate": rate,
        "holdout_rate": base,
        "absolute": absolute,
        "relative": absolute / base if base else None,
        "ci95": None,
        "p_value": None,
        "conclusive": False,
        "converted": x1,
        "targeted": n1,
        "holdout_converted": x2,
        "holdout_targeted": n2,
    }
    if n1 and n2:
        spread = math.sqrt(rate * (1 - rate) / n1 + base * (1 - base) / n2)
        out["ci95"] = [absolute - Z95 * spread, absolute + Z95 * spread]
        pooled = (x1 + x2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        out["p_value"] = p_value(absolute / se) if se else None
    out["conclusive"] = min(x1, n1 - x1, x2, n2 - x2) >= MIN_OUTCOMES
    if not out["conclusive"]:
        out["note"] = TOO_SMALL
    return out


def lift(variant_stats: Mapping[str, Mapping[str, Any]], holdout: str) -> dict[str, dict[str, Any]]:
    """{variant: two_proportions(...)} for every variant against the holdout's stats."""
    base = variant_stats.get(holdout) or {}
    x2, n2 = int(base.get("converted", 0)), int(base.get("targeted", 0))
    return {
        name: two_proportions(int(s.get("converted", 0)), int(s.get("targeted", 0)), x2, n2)
        for name, s in sorted(variant_stats.items())
        if name != holdout
    }
