"""Permission priming: the web SDK's soft prompt asks before the browser does, and reports each prompt's
`prompted`, `accepted` ("Allow": the browser's own request follows) and `declined` ("Not now"), counted per
app so the opt-in rate of a wording shows on the results.

Pure: the report's body, the series it counts in, and the app's answer. The counts live in the analytics
table as an app-level series (dal/opt_in.py), beside the campaigns' own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from pushengine.analytics import Granularity, bucket_start

OUTCOMES = ("prompted", "accepted", "declined")
Outcome = Literal["prompted", "accepted", "declined"]
SERIES = "@opt_in"  # the app's series id in the analytics table: "@" is in no campaign id


class OptInReport(BaseModel):
    """`POST /v1/events/opt-in`: one soft prompt's outcome. `prompt_id` (the SDK's random id for one showing)
    makes a retried report count once."""

    model_config = ConfigDict(extra="forbid", strict=True)
    outcome: Outcome
    prompt_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    # the prompt's wording, when a site tries several (counted per variant)
    variant: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None


def _rate(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(stats: Mapping[str, Any]) -> dict[str, Any]:
    counts = {o: int(stats.get(o, 0)) for o in OUTCOMES}
    return {
        **counts,
        "accept_rate": _rate(counts["accepted"], counts["prompted"]),
        "decline_rate": _rate(counts["declined"], counts["prompted"]),
    }


def summary(hours: Iterable[Mapping[str, Any]], granularity: Granularity = "day") -> dict[str, Any]:
    """`GET /v1/apps/{app_id}/opt-in`: the totals with their rates, per variant, and per UTC hour or day,
    from the series' hour items (`{"hour", "stats", "vstats"}`, dal/timeseries.py)."""
    total: dict[str, int] = {}
    per_variant: dict[str, dict[str, int]] = {}
    buckets: dict[str, dict[str, int]] = {}
    for item in hours:
        start = bucket_start(item["hour"], granularity)
        for name, value in (item.get("stats") or {}).items():
            total[name] = total.get(name, 0) + value
            buckets.setdefault(start, {})[name] = buckets.get(start, {}).get(name, 0) + value
        for variant, stats in (item.get("vstats") or {}).items():
            into = per_variant.setdefault(variant, {})
            for name, value in stats.items():
                into[name] = into.get(name, 0) + value
    return {
        "granularity": granularity,
        **_counts(total),
        "variants": {v: _counts(c) for v, c in sorted(per_variant.items())},
        "buckets": [{"start": s, **_counts(buckets[s])} for s in sorted(buckets)],
    }
