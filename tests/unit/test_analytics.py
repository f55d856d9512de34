"""Revenue per currency, the time series' buckets, app measurement defaults, send-time experiment waves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pushengine.analytics import app_defaults, hour_of, revenue_view, series_deltas, timeseries
from pushengine.campaigns import plan_waves
from pushengine.models import CampaignIn, EventIn


def test_currency_is_iso_4217() -> None:
    assert EventIn(device_id="d", name="purchase", value=1, currency="JPY").currency == "JPY"
    with pytest.raises(ValidationError, match="ISO 4217"):
        EventIn(device_id="d", name="purchase", value=1, currency="XYZ")


def test_revenue_stays_a_number_in_the_default_currency() -> None:
    flat = {"converted": 3, "revenue_USD": 10.5, "revenue_EUR": 7, "revenue_JPY": 0}
    assert revenue_view(flat, "USD") == (10.5, {"USD": 10.5, "EUR": 7})
    assert revenue_view(flat, "EUR") == (7, {"USD": 10.5, "EUR": 7})
    # a bare `revenue` (stored before currencies were kept) is the default currency's
    assert revenue_view({"revenue": 4, "revenue_USD": 1}, "USD") == (5, {"USD": 5})


def test_app_defaults() -> None:
    assert app_defaults(None) == ("USD", 7)
    assert app_defaults({"settings": {"currency": "EUR", "attribution_window_days": 3}}) == ("EUR", 3)
    assert app_defaults({"settings": {"currency": "nope", "attribution_window_days": 900}}) == ("USD", 90)


def test_hours_and_days() -> None:
    assert hour_of(datetime(2026, 12, 1, 14, 59, 59, tzinfo=UTC)) == "2026-12-01T14"
    assert series_deltas({"sent": 3, "failed": 1, "revenue_EUR": 2.5, "opened": 0}) == {
        "sent": 3,
        "revenue_EUR": 2.5,
    }
    items = [
        {"hour": "2026-12-01T09", "stats": {"sent": 3, "revenue_EUR": 2}, "vstats": {"a": {"sent": 3}}},
        {"hour": "2026-12-01T18", "stats": {"sent": 2, "converted": 1}, "vstats": {"b": {"sent": 2}}},
        {"hour": "2026-12-02T00", "stats": {"sent": 1}, "vstats": {"a": {"sent": 1}}},
    ]
    hourly = timeseries(items, "hour")
    assert [b["start"] for b in hourly["buckets"]] == ["2026-12-01T09:00:00Z", "2026-12-01T18:00:00Z",
                                                       "2026-12-02T00:00:00Z"]  # fmt: skip
    assert hourly["buckets"][0] == {"start": "2026-12-01T09:00:00Z", "targeted": 0, "sent": 3, "delivered": 0,
                                    "opened": 0, "clicked": 0, "converted": 0, "revenue": {"EUR": 2}}  # fmt: skip
    daily = timeseries(items, "day")
    assert [(b["start"], b["sent"]) for b in daily["buckets"]] == [("2026-12-01T00:00:00Z", 5),
                                                                    ("2026-12-02T00:00:00Z", 1)]  # fmt: skip
    assert [(b["start"], b["sent"]) for b in daily["variants"]["a"]] == [("2026-12-01T00:00:00Z", 3),
                                                                          ("2026-12-02T00:00:00Z", 1)]  # fmt: skip


EXPERIMENT = {
    "name": "when", "message": {"title": "t", "body": "b"}, "holdout_percent": 10,
    "schedule": {"type": "local_time", "date": "2030-06-03", "time": "09:00"},
    "variants": [{"name": "morning", "message": {"title": "m", "body": "b"}},
                 {"name": "evening", "time": "18:00", "message": {"title": "e", "body": "b"}}],
}  # fmt: skip


def test_send_time_experiment_plans_a_wave_set_per_time() -> None:
    planned, _ = plan_waves(CampaignIn.model_validate(EXPERIMENT), datetime(2030, 6, 1, tzinfo=UTC))
    tokyo = [p for p in planned if "Asia/Tokyo" in p["wave"].time_zones]
    assert [(p["wave"].send_at.isoformat(), p["variants"]) for p in tokyo] == [
        ("2030-06-03T00:00:00+00:00", ["morning", "holdout"]),
        ("2030-06-03T09:00:00+00:00", ["evening"]),
    ]
    ids = [p["wave"].wave_id for p in planned]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"schedule": {"type": "now"}}, "variants.1.time"),
     ({"variants": [{"name": "x", "days": ["MO"], "message": {"title": "t", "body": "b"}}]}, "variants.0.days")],
)  # fmt: skip
def test_variant_times_only_where_a_schedule_has_wall_times(change: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        CampaignIn.model_validate({**EXPERIMENT, **change})
