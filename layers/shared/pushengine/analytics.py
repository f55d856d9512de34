"""Measurement: revenue per currency, hour buckets of a campaign's stats, and the app's measurement defaults.

Pure: no I/O. The time series lives in its own items (pushengine.dal.timeseries), one per
(campaign, hour) and one per (campaign, run, hour) for occurrences, added to by the same ledger-guarded
transaction that adds the campaign's stats, so a redelivered batch or event never counts twice there either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

REVENUE_PREFIX = "revenue_"  # + ISO 4217 code: a stat key holding that currency's revenue
SERIES_STATS = ("targeted", "sent", "delivered", "opened", "clicked", "converted")
DEFAULT_CURRENCY = "USD"
DEFAULT_ATTRIBUTION_DAYS = 7
MAX_ATTRIBUTION_DAYS = 90
Granularity = Literal["hour", "day"]

ACTION_STAT_PREFIX = "clicked_action_"  # + action id: taps on one button, read back as clicked_actions
PAYING = "paying"  # devices with a revenue-bearing conversion (counted once each; an experiment's `revenue`)



@lru_cache(maxsize=1)
def iso_currencies() -> frozenset[str]:
    """ISO 4217 alphabetic codes (pycountry's copy of the standard's list)."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def check_currency(code: str) -> str:
    if code not in iso_currencies():
        raise ValueError("not an ISO 4217 currency code (e.g. USD, EUR, JPY)")
    return code


def revenue_key(currency: str) -> str:
    return f"{REVENUE_PREFIX}{currency}"


def currency_of(key: str) -> str | None:
    """The currency of a stat key written by revenue_key, else None."""
    code = key.removeprefix(REVENUE_PREFIX)
    return code if key.startswith(REVENUE_PREFIX) and len(code) == 3 and code.isupper() else None


def revenue_view(flat: Mapping[str, Any], default_currency: str) -> tuple[float | int, dict[str, Any]]:
    """(revenue in the default currency, {currency: amount}) from flat stats.

    `revenue` stays a number so clients that read it keep working; before currencies were kept, a
    conversion's value was added to a bare `revenue`, which is read as the default currency's."""
    by_currency: dict[str, Any] = {}
    for key, value in flat.items():
        code = currency_of(key)
        if code is not None and value:
            by_currency[code] = value
    legacy = flat.get("revenue") or 0
    if legacy:
        by_currency[default_currency] = by_currency.get(default_currency, 0) + legacy
    return by_currency.get(default_currency, 0), by_currency


# ---------- app measurement settings ----------

def stats_view(flat: dict[str, Any], currency: str = DEFAULT_CURRENCY) -> dict[str, Any]:
    """Flat stored stats as the API answers them: `revenue` in the app's default currency (a number, as
    it always was) beside `revenue_by_currency`, suppressions and button taps grouped."""
    revenue, by_currency = revenue_view(flat, currency)
    out: dict[str, Any] = {"suppressed": {}, "clicked_actions": {}, "revenue": revenue,
                           "revenue_by_currency": by_currency, "currency": currency}  # fmt: skip
    for key, value in flat.items():
        if key == "revenue" or currency_of(key) is not None:
            continue
        if key.startswith("suppressed_"):
            out["suppressed"][key.removeprefix("suppressed_")] = value
        elif key.startswith(ACTION_STAT_PREFIX):
            out["clicked_actions"][key.removeprefix(ACTION_STAT_PREFIX)] = value
        else:
            out[key] = value
    return out

def app_defaults(app: Mapping[str, Any] | None) -> tuple[str, int]:
    """(default currency, attribution window in days) from the app item's `settings` map
    (written by `PUT /v1/apps/{app_id}/settings`); USD and 7 days when unset."""
    settings = (app or {}).get("settings") or {}
    currency = settings.get("currency")
    days = settings.get("attribution_window_days")
    currency = currency if isinstance(currency, str) and currency in iso_currencies() else DEFAULT_CURRENCY
    try:
        window = int(days) if days is not None else DEFAULT_ATTRIBUTION_DAYS
    except (TypeError, ValueError):
        window = DEFAULT_ATTRIBUTION_DAYS
    return currency, min(max(window, 0), MAX_ATTRIBUTION_DAYS)


# ---------- hour buckets ----------
def hour_of(moment: datetime) -> str:
    """The UTC hour a moment falls in, as its bucket key: 2026-12-01T14."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def bucket_start(key: str, granularity: Granularity) -> str:
    start = datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    if granularity == "day":
        start = start.replace(hour=0)
    return start.isoformat().replace("+00:00", "Z")


def series_deltas(stats: Mapping[str, int | float]) -> dict[str, int | float]:
    """The part of a stats delta the time series keeps: the funnel and revenue per currency."""
    return {k: v for k, v in stats.items() if v and (k in SERIES_STATS or currency_of(k) is not None)}


def _bucket(start: str, counts: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"start": start, **{k: counts.get(k, 0) for k in SERIES_STATS}}
    out["revenue"] = {code: v for k, v in sorted(counts.items()) if (code := currency_of(k)) and v}
    return out


def timeseries(items: Iterable[Mapping[str, Any]], granularity: Granularity) -> dict[str, Any]:
    """`{granularity, buckets, variants: {name: buckets}}` from stored hour items, each
    `{"hour": key, "stats": {...}, "vstats": {variant: {...}}}`; buckets in time order, only those with data."""
    total: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    per: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for item in items:
        start = bucket_start(item["hour"], granularity)
        for key, value in (item.get("stats") or {}).items():
            total[start][key] += value
        for variant, stats in (item.get("vstats") or {}).items():
            for key, value in stats.items():
                per[variant][start][key] += value
    return {
        "granularity": granularity,
        "buckets": [_bucket(s, total[s]) for s in sorted(total)],
        "variants": {v: [_bucket(s, b[s]) for s in sorted(b)] for v, b in sorted(per.items())},
    }


# ---------- attribution ----------
def exposure_window(sent_at: datetime, converted_at: datetime, days: int) -> bool:
    """A conversion counts for an exposure at `sent_at` when it happened after it, within `days`."""
    return sent_at <= converted_at <= sent_at + timedelta(days=days)


def campaign_timeseries(
    campaign: Mapping[str, Any] | None,
    hours: Iterable[Mapping[str, Any]],
    granularity: Granularity,
    run: str | None = None,
) -> dict[str, Any]:
    """The answer of GET /v1/campaigns/{id}/timeseries: the campaign (definition and progress) must exist,
    and `run`, when asked for, must be one of its runs. `hours` is read only after those checks; a
    recurring or anniversary campaign's answer lists its runs (ids are local dates), oldest first."""
    from pushengine.errors import NotFound

    if campaign is None:
        raise NotFound("campaign not found", field="campaign_id")
    runs = sorted(str(r) for r in campaign.get("run_ids") or ())
    if run is not None and run not in runs:
        raise NotFound(f"campaign has no run {run}", field="run")
    out = timeseries(hours, granularity)
    if runs:
        out["runs"] = runs
    if run is not None:
        out["run"] = run
    return out
