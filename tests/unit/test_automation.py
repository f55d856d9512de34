"""Pure pieces of automation: occurrence dates, month-day index keys, delays, years_since, app defaults."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from pushengine import anniversaries, app_settings, recurring
from pushengine.content import Message
from pushengine.models import CampaignIn, RecurringSchedule, parse_delay
from pushengine.rendering import CompiledMessage
from tests.fakes import spec_of

WEEKLY = {
    "type": "recurring",
    "frequency": "weekly",
    "days": ["MO", "TH"],
    "time": "10:00",
    "start": "2027-01-04",
}


@pytest.mark.parametrize(
    ("schedule", "days"),
    [
        (WEEKLY, [date(2027, 1, 4), date(2027, 1, 7), date(2027, 1, 11)]),
        ({**WEEKLY, "end": "2027-01-07"}, [date(2027, 1, 4), date(2027, 1, 7)]),
        ({"type": "recurring", "frequency": "daily", "time": "10:00", "start": "2027-01-10"},
         [date(2027, 1, 10), date(2027, 1, 11), date(2027, 1, 12)]),
        # day 31 falls on the last day of shorter months; day 29 of February only in leap years
        ({"type": "recurring", "frequency": "monthly", "day_of_month": 31, "time": "10:00", "start": "2027-01-01"},
         [date(2027, 1, 31)]),
    ],
)  # fmt: skip
def test_occurrence_dates(schedule: dict, days: list[date]) -> None:
    window = recurring.dates_between(date(2027, 1, 1), date(2027, 1, 12))
    assert [d for d in window if recurring.occurs_on(RecurringSchedule.model_validate(schedule), d)] == [
        d for d in days if d <= date(2027, 1, 12)
    ]


def test_monthly_on_the_31st_is_the_last_day_of_short_months() -> None:
    monthly = {
        "type": "recurring",
        "frequency": "monthly",
        "day_of_month": 31,
        "time": "10:00",
        "start": "2027-01-01",
    }
    year = recurring.dates_between(date(2027, 1, 1), date(2028, 12, 31))
    hits = [d for d in year if recurring.occurs_on(RecurringSchedule.model_validate(monthly), d)]
    assert (
        len(hits) == 24
        and date(2027, 2, 28) in hits
        and date(2028, 2, 29) in hits
        and date(2027, 4, 30) in hits
    )


@pytest.mark.parametrize(
    ("day", "month_days"),
    [(date(2027, 2, 28), ["02-28", "02-29"]), (date(2028, 2, 28), ["02-28"]), (date(2028, 2, 29), ["02-29"]),
     (date(2027, 3, 1), ["03-01"])],
)  # fmt: skip
def test_29_february_is_celebrated_on_28_february_in_common_years(day: date, month_days: list[str]) -> None:
    assert anniversaries.celebrated_on(day) == month_days


@pytest.mark.parametrize(("value", "expected"), [("1990-03-15", "03-15"), ("2000-02-29", "02-29"),
                                                 ("1990-3-15", None), ("soon", None), (19900315, None),
                                                 ("1990-02-30", None)])  # fmt: skip
def test_month_day_of_a_date_attribute(value: object, expected: str | None) -> None:
    assert anniversaries.month_day(value) == expected


class FakeIndex:
    def __init__(self) -> None:
        self.items: set[tuple[str, str, str, str]] = set()

    def index_celebrant(self, app_id: str, name: str, md: str, zone: str, device_id: str) -> None:
        self.items.add((name, md, zone, device_id))

    def unindex_celebrant(self, app_id: str, name: str, md: str, zone: str, device_id: str) -> None:
        self.items.discard((name, md, zone, device_id))


def test_reindex_moves_a_device_when_its_date_or_zone_changes() -> None:
    index = FakeIndex()
    first = {"timezone": "Asia/Tokyo", "attributes": {"birthday": "1990-03-15", "nickname": "1990-01-01"}}
    anniversaries.reindex(index, "app", "d1", None, first, ["birthday"])  # type: ignore[arg-type]
    assert index.items == {("birthday", "03-15", "Asia/Tokyo", "d1")}
    moved = {"timezone": "Europe/Paris", "attributes": {"birthday": "1990-03-16"}}
    anniversaries.reindex(index, "app", "d1", first, moved, ["birthday"])  # type: ignore[arg-type]
    assert index.items == {("birthday", "03-16", "Europe/Paris", "d1")}


@pytest.mark.parametrize(
    ("text", "span"),
    [("PT0S", timedelta(0)), ("PT1H", timedelta(hours=1)), ("P1DT30M", timedelta(days=1, minutes=30)),
     ("P52W", timedelta(weeks=52)), ("P365D", timedelta(days=365))],
)  # fmt: skip
def test_delays(text: str, span: timedelta) -> None:
    assert parse_delay(text) == span


@pytest.mark.parametrize(("text", "reason"), [("P366D", "one year"), ("PT9000H", "one year"), ("P", "ISO 8601"),
                                              ("1h", "ISO 8601"), ("P1M", "ISO 8601")])  # fmt: skip
def test_bad_delays(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_delay(text)


def test_a_trigger_may_not_cancel_itself() -> None:
    with pytest.raises(ValidationError, match="cancel_on"):
        CampaignIn.model_validate({"name": "x", "message": {"title": "t", "body": "b"}, "schedule": {
            "type": "triggered", "event": "cart_updated", "cancel_on": ["cart_updated"]}})  # fmt: skip


@pytest.mark.parametrize(
    ("born", "on", "years"),
    [("1990-03-15", "2027-03-15", "37"), ("1990-03-15", "2027-03-14", "36"), ("2000-02-29", "2027-02-28", "27"),
     ("2000-02-29", "2028-02-29", "28"), ("2000-02-29", "2028-02-28", "27"), ("not a date", "2027-01-01", "")],
)  # fmt: skip
def test_years_since_counts_to_the_sends_local_date(born: str, on: str, years: str) -> None:
    message = Message(title="t", body="{{ attributes.birthday | years_since }}")
    compiled = CompiledMessage.compile(message, "c")
    assert compiled.render({"attributes": {"birthday": born}, "local_date": on}).body == years
    assert (
        compiled.render_key({"attributes": {"birthday": born}}) is None
    )  # depends on the date: never memoised


def test_trigger_properties_render_and_key_the_memo() -> None:
    message = Message(title="t", body="You left {{ event.properties.item_name }}")
    compiled = CompiledMessage.compile(message, "c")
    shoes = {"event": {"name": "cart_updated", "properties": {"item_name": "red shoes"}}}
    hat = {"event": {"name": "cart_updated", "properties": {"item_name": "a hat"}}}
    assert compiled.render(shoes).body == "You left red shoes"
    assert compiled.render_key(shoes) != compiled.render_key(hat)


@pytest.mark.parametrize(
    ("defaults", "spec", "policy", "rate"),
    [({"frequency_cap": {"max": 2, "per_hours": 24}, "max_per_second": 50}, {},
      {"app_cap": {"max": 2, "per_hours": 24}}, 50.0),
     ({"frequency_cap": {"max": 2, "per_hours": 24}}, {"category": "transactional"}, {}, None),
     ({"max_per_second": 50}, {"max_per_second": 10}, {}, 10.0), ({}, {}, {}, None)],
)  # fmt: skip
def test_app_defaults_and_campaign_overrides(
    defaults: dict, spec: dict, policy: dict, rate: float | None
) -> None:
    assert app_settings.batch_policy(defaults, spec_of(**spec)) == policy
    assert app_settings.max_per_second(defaults, spec_of(**spec)) == rate
