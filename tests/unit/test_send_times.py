"""Send-time experiments on recurring campaigns (pure planning), the run an event answers, and the run
filter of the time series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from pushengine import recurring
from pushengine.analytics import campaign_timeseries
from pushengine.errors import NotFound
from pushengine.models import CampaignIn, CampaignSpec

MESSAGE = {"title": "t", "body": "b"}
DAILY = {"type": "recurring", "frequency": "daily", "time": "09:00", "start": "2027-01-04"}
WEEKLY = {"type": "recurring", "frequency": "weekly", "days": ["MO"], "time": "10:00", "start": "2027-01-04"}
ZONES = ["Asia/Tokyo", "America/New_York", "Asia/Kathmandu"]


def spec(schedule: dict, *variants: dict, holdout: float = 10) -> CampaignSpec:
    """A campaign as created, then read back from the store."""
    body = {"name": "x", "message": MESSAGE, "schedule": schedule, "holdout_percent": holdout,
            "variants": [{"message": MESSAGE, **v} for v in variants]}  # fmt: skip
    return CampaignSpec.model_validate(CampaignIn.model_validate(body).model_dump(mode="json", exclude_none=True))


NINE_VS_SIX = spec(DAILY, {"name": "morning"}, {"name": "evening", "time": "18:00"})
MONDAY_VS_THURSDAY = spec(WEEKLY, {"name": "mon"}, {"name": "thu", "days": ["TH"], "time": "19:30"})


def test_a_campaign_without_own_times_has_one_send_time_for_everyone() -> None:
    (only,) = recurring.send_times(spec(DAILY, {"name": "a"}, {"name": "b"}))
    assert (only.key, only.variants, only.schedule.time) == ("", None, "09:00")


@pytest.mark.parametrize(
    ("campaign", "expected"),
    [
        (NINE_VS_SIX, [("t0900", "09:00", None, ("morning", "holdout")), ("t1800", "18:00", None, ("evening",))]),
        (MONDAY_VS_THURSDAY,
         [("t1000-MO", "10:00", ["MO"], ("mon", "holdout")), ("t1930-TH", "19:30", ["TH"], ("thu",))]),
        # the holdout goes with the schedule's own time, even when a variant is earlier
        (spec(DAILY, {"name": "early", "time": "07:00"}, {"name": "plain"}),
         [("t0700", "07:00", None, ("early",)), ("t0900", "09:00", None, ("plain", "holdout"))]),
        # no variant keeps the schedule's own time: the holdout goes with the earliest
        (spec(DAILY, {"name": "late", "time": "20:00"}, {"name": "early", "time": "07:15"}),
         [("t0715", "07:15", None, ("early", "holdout")), ("t2000", "20:00", None, ("late",))]),
    ],
)  # fmt: skip
def test_send_times_group_variants_by_wall_time_and_weekdays(campaign: CampaignSpec, expected: list) -> None:
    got = [
        (g.key, g.schedule.time, getattr(g.schedule, "days", None), g.variants)
        for g in recurring.send_times(campaign)
    ]
    assert got == expected


def test_each_variant_gets_its_own_waves_per_run_at_its_local_time() -> None:
    now = datetime(2027, 1, 3, tzinfo=UTC)
    days = [date(2027, 1, 4), date(2027, 1, 5)]
    planned = recurring.plan_occurrences(NINE_VS_SIX, days, lambda d: ZONES, now, now + timedelta(days=4))
    tokyo = [(o.run, o.wave.send_at.isoformat(), o.send_time.variants) for o in planned
             if "Asia/Tokyo" in o.wave.time_zones]  # fmt: skip
    assert tokyo == [
        ("2027-01-04", "2027-01-04T00:00:00+00:00", ("morning", "holdout")),
        ("2027-01-04", "2027-01-04T09:00:00+00:00", ("evening",)),
        ("2027-01-05", "2027-01-05T00:00:00+00:00", ("morning", "holdout")),
        ("2027-01-05", "2027-01-05T09:00:00+00:00", ("evening",)),
    ]
    # three zones, three distinct offsets, two times, two runs; ids unique within a run and name their time
    assert len(planned) == 12
    assert len({(o.run, o.wave.wave_id) for o in planned}) == 12
    assert all(o.wave.wave_id.endswith("-" + o.send_time.key) for o in planned)
    for o in planned:  # a wave's id finds its send time again when it fires
        assert recurring.send_time_of(NINE_VS_SIX, o.wave.wave_id) == o.send_time
    kathmandu = [o.wave.send_at for o in planned if o.wave.time_zones == ("Asia/Kathmandu",)]
    assert kathmandu[:2] == [
        datetime(2027, 1, 4, 3, 15, tzinfo=UTC),
        datetime(2027, 1, 4, 12, 15, tzinfo=UTC),
    ]


def test_weekday_variants_run_only_on_their_days_and_the_horizon_bounds_the_plan() -> None:
    now = datetime(2027, 1, 3, tzinfo=UTC)
    days = list(recurring.dates_between(date(2027, 1, 3), date(2027, 1, 12)))
    planned = recurring.plan_occurrences(
        MONDAY_VS_THURSDAY, days, lambda d: ["Europe/Berlin"], now, datetime(2027, 1, 8, tzinfo=UTC)
    )
    assert [(o.run, o.wave.send_at.isoformat(), o.send_time.variants) for o in planned] == [
        ("2027-01-04", "2027-01-04T09:00:00+00:00", ("mon", "holdout")),
        ("2027-01-07", "2027-01-07T18:30:00+00:00", ("thu",)),
    ]  # Monday 11 January lies past the horizon
    # instants already passed are not planned
    later = recurring.plan_occurrences(
        MONDAY_VS_THURSDAY, days, lambda d: ["Europe/Berlin"], datetime(2027, 1, 5, tzinfo=UTC),
        datetime(2027, 1, 12, tzinfo=UTC),
    )  # fmt: skip
    assert [o.run for o in later] == ["2027-01-07", "2027-01-11"]


def test_a_campaign_without_experiment_keeps_its_wave_ids() -> None:
    plain = spec(DAILY, {"name": "a"})
    now = datetime(2027, 1, 3, tzinfo=UTC)
    (only,) = recurring.plan_occurrences(
        plain, [date(2027, 1, 4)], lambda d: ["UTC"], now, now + timedelta(days=4)
    )
    assert only.wave.wave_id == "w20270104T090000Z" and only.send_time.variants is None


@pytest.mark.parametrize(
    ("variant", "zone", "at", "run"),
    [
        ("evening", "America/New_York", "2027-01-05T22:59:00+00:00", "2027-01-04"),  # 17:59 local: before 18:00
        ("evening", "America/New_York", "2027-01-05T23:00:00+00:00", "2027-01-05"),
        ("morning", "America/New_York", "2027-01-05T14:00:00+00:00", "2027-01-05"),
        ("holdout", "America/New_York", "2027-01-05T13:59:00+00:00", "2027-01-04"),  # the holdout: 09:00
        ("morning", "Asia/Kathmandu", "2027-01-04T03:15:00+00:00", "2027-01-04"),
        ("morning", "Asia/Kathmandu", "2027-01-04T03:14:00+00:00", None),  # before the first run
        ("morning", "Not/A_Zone", "2027-01-04T09:00:00+00:00", "2027-01-04"),  # unknown zone read as UTC
    ],
)  # fmt: skip
def test_an_event_counts_for_the_last_run_that_reached_its_device(
    variant: str, zone: str, at: str, run: str | None
) -> None:
    assert recurring.run_of(NINE_VS_SIX, variant, zone, datetime.fromisoformat(at)) == run


def test_weekly_runs_and_other_schedules() -> None:
    friday = datetime(2027, 1, 8, 12, tzinfo=UTC)
    assert recurring.run_of(MONDAY_VS_THURSDAY, "thu", "Europe/Berlin", friday) == "2027-01-07"
    assert recurring.run_of(MONDAY_VS_THURSDAY, "mon", "Europe/Berlin", friday) == "2027-01-04"
    local = spec({"type": "local_time", "date": "2027-01-04", "time": "09:00"}, {"name": "a"})
    assert recurring.run_of(local, "a", "UTC", friday) is None


@pytest.mark.parametrize(
    ("schedule", "variant", "field", "reason"),
    [
        (DAILY, {"days": ["MO"]}, "variants.0.days", "only for weekly recurring"),
        ({**DAILY, "frequency": "monthly", "day_of_month": 1}, {"days": ["MO"]}, "variants.0.days", "weekly"),
        (WEEKLY, {"days": ["MO", "MO"]}, "variants.0.days", "at most once"),
        (WEEKLY, {"days": ["XX"]}, "variants.0.days", ""),
        (WEEKLY, {"time": "25:00"}, "variants.0.time", ""),
        ({"type": "anniversary", "attribute": "attributes.birthday", "time": "09:00", "start": "2027-01-04"},
         {"time": "10:00"}, "variants.0.time", "only for local_time or recurring"),
    ],
)  # fmt: skip
def test_bad_send_time_variants_are_refused_naming_the_field(
    schedule: dict, variant: dict, field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        spec(schedule, {"name": "a", **variant})
    assert field in str(raised.value) and reason in str(raised.value)


def test_the_time_series_of_one_run() -> None:
    campaign = {"run_ids": {"2027-01-05", "2027-01-04"}}
    hours = [{"hour": "2027-01-04T14", "stats": {"sent": 2}, "vstats": {"morning": {"sent": 2}}}]
    out = campaign_timeseries(campaign, hours, "day", "2027-01-04")
    assert out["runs"] == ["2027-01-04", "2027-01-05"] and out["run"] == "2027-01-04"
    assert out["buckets"][0]["start"] == "2027-01-04T00:00:00Z" and out["buckets"][0]["sent"] == 2
    with pytest.raises(NotFound) as missing:
        campaign_timeseries(campaign, hours, "hour", "2027-01-06")
    assert missing.value.field == "run"
    with pytest.raises(NotFound):
        campaign_timeseries(None, hours, "hour")
    assert "runs" not in campaign_timeseries({}, [], "hour")  # a one-off campaign has no runs
