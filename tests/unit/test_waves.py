"""Wave planning against real zoneinfo data; expected instants are worked out by hand from offsets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushengine.waves import (
    ALL_ZONES,
    PlanResult,
    Wave,
    due_now,
    is_valid_zone,
    local_instant,
    plan_at,
    plan_local_time,
    plan_now,
    zones_for_wave,
)

pytestmark = pytest.mark.unit


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# zone, date, wall time, expected UTC instant, wall time a clock in the zone shows at that instant
LOCAL_INSTANTS = [
    ("UTC", "2026-01-15", "09:00", "2026-01-15T09:00", "09:00"),
    ("UTC", "2026-07-15", "09:00", "2026-07-15T09:00", "09:00"),
    # London: GMT+0 in winter, BST+1 in summer
    ("Europe/London", "2026-01-15", "09:00", "2026-01-15T09:00", "09:00"),
    ("Europe/London", "2026-07-15", "09:00", "2026-07-15T08:00", "09:00"),
    # 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 does not exist, moves forward an hour to 02:30 BST
    ("Europe/London", "2026-03-29", "00:30", "2026-03-29T00:30", "00:30"),
    ("Europe/London", "2026-03-29", "01:30", "2026-03-29T01:30", "02:30"),
    ("Europe/London", "2026-03-29", "02:30", "2026-03-29T01:30", "02:30"),
    # 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 happens twice, the first is still BST
    ("Europe/London", "2026-10-25", "01:30", "2026-10-25T00:30", "01:30"),
    ("Europe/London", "2026-10-25", "02:30", "2026-10-25T02:30", "02:30"),
    # New York: EST-5 in winter, EDT-4 in summer
    ("America/New_York", "2026-01-15", "09:00", "2026-01-15T14:00", "09:00"),
    ("America/New_York", "2026-07-15", "09:00", "2026-07-15T13:00", "09:00"),
    # 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 moves forward to 03:30 EDT, the same instant as 03:30
    ("America/New_York", "2026-03-08", "01:30", "2026-03-08T06:30", "01:30"),
    ("America/New_York", "2026-03-08", "02:30", "2026-03-08T07:30", "03:30"),
    ("America/New_York", "2026-03-08", "03:30", "2026-03-08T07:30", "03:30"),
    # 2026-11-01 02:00 EDT -> 01:00 EST: the first 01:30 is EDT (05:30Z), not EST (06:30Z)
    ("America/New_York", "2026-11-01", "01:30", "2026-11-01T05:30", "01:30"),
    ("America/New_York", "2026-11-01", "02:30", "2026-11-01T07:30", "02:30"),
    # Kathmandu +5:45 all year
    ("Asia/Kathmandu", "2026-01-15", "09:00", "2026-01-15T03:15", "09:00"),
    ("Asia/Kathmandu", "2026-07-15", "00:30", "2026-07-14T18:45", "00:30"),
    # St John's: NST-3:30, NDT-2:30; changes at 02:00 local on the US dates
    ("America/St_Johns", "2026-01-15", "09:00", "2026-01-15T12:30", "09:00"),
    ("America/St_Johns", "2026-07-15", "09:00", "2026-07-15T11:30", "09:00"),
    ("America/St_Johns", "2026-03-08", "02:30", "2026-03-08T06:00", "03:30"),
    ("America/St_Johns", "2026-11-01", "01:30", "2026-11-01T04:00", "01:30"),
    # Chatham: +13:45 in (southern) summer, +12:45 in winter; ends 2026-04-05 03:45 -> 02:45,
    # starts 2026-09-27 02:45 -> 03:45
    ("Pacific/Chatham", "2026-01-15", "09:00", "2026-01-14T19:15", "09:00"),
    ("Pacific/Chatham", "2026-07-15", "09:00", "2026-07-14T20:15", "09:00"),
    ("Pacific/Chatham", "2026-04-05", "03:00", "2026-04-04T13:15", "03:00"),
    ("Pacific/Chatham", "2026-09-27", "03:00", "2026-09-26T14:15", "04:00"),
    # Kiritimati +14: its morning is the previous UTC day
    ("Pacific/Kiritimati", "2026-01-15", "09:00", "2026-01-14T19:00", "09:00"),
    ("Pacific/Kiritimati", "2026-03-01", "00:30", "2026-02-28T10:30", "00:30"),
    # Lord Howe: +11 in summer, +10:30 in winter, a 30-minute shift.
    ("Australia/Lord_Howe", "2026-01-15", "09:00", "2026-01-14T22:00", "09:00"),
    ("Australia/Lord_Howe", "2026-07-15", "09:00", "2026-07-14T22:30", "09:00"),
    # 2026-04-05 02:00 -> 01:30: 01:45 happens twice, first at +11
    ("Australia/Lord_Howe", "2026-04-05", "01:45", "2026-04-04T14:45", "01:45"),
    ("Australia/Lord_Howe", "2026-04-05", "02:30", "2026-04-04T16:00", "02:30"),
    # 2026-10-04 02:00 -> 02:30: 02:15 does not exist, moves forward 30 minutes to 02:45 at +11
    ("Australia/Lord_Howe", "2026-10-04", "02:15", "2026-10-03T15:45", "02:45"),
    ("Australia/Lord_Howe", "2026-10-04", "01:45", "2026-10-03T15:15", "01:45"),
]


@pytest.mark.parametrize(("zone", "day", "wall", "expected", "shown"), LOCAL_INSTANTS)
def test_local_instant(zone: str, day: str, wall: str, expected: str, shown: str) -> None:
    instant = local_instant(date.fromisoformat(day), time.fromisoformat(wall), zone)
    assert instant == utc(expected)
    assert instant.tzinfo is UTC
    # Round trip: converting back shows the wall time, or the wall time moved past the gap.
    back = instant.astimezone(ZoneInfo(zone))
    assert back.strftime("%H:%M") == shown
    assert back.date() == date.fromisoformat(day)


def _occurrences(naive: datetime, tz: ZoneInfo) -> set[datetime]:
    """Every instant whose local wall time is `naive` (empty in a DST gap)."""
    found = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == naive:
            found.add(instant)
    return found


@given(
    zone=st.sampled_from(ALL_ZONES),
    moment=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59)),
)
def test_local_instant_is_first_occurrence_or_just_after_gap(zone: str, moment: datetime) -> None:
    naive = moment.replace(second=0, microsecond=0)
    tz = ZoneInfo(zone)
    instant = local_instant(naive.date(), naive.time(), zone)
    occurrences = _occurrences(naive, tz)
    if occurrences:
        assert instant == min(occurrences)
    else:
        # In a gap the clock shows the wall time moved forward by exactly the jump in offset.
        shown = instant.astimezone(tz)
        moved = shown.replace(tzinfo=None) - naive
        before = (instant - moved).astimezone(tz).utcoffset()
        assert timedelta(0) < moved <= timedelta(days=1)
        assert shown.utcoffset() - before == moved  # type: ignore[operator]


def test_local_instant_rejects_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        local_instant(date(2026, 1, 1), time(9), "Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("UTC", True),
        ("Europe/London", True),
        ("America/Argentina/Buenos_Aires", True),
        ("Asia/Kathmandu", True),
        ("US/Eastern", True),  # a backward-compatible IANA link is still an IANA name
        ("", False),
        ("Local", False),
        ("localtime", False),
        ("posixrules", False),
        ("Factory", False),
        ("/etc/localtime", False),
        ("../../etc/passwd", False),
        ("/usr/share/zoneinfo/UTC", False),
        ("posix/Europe/London", False),
        ("right/UTC", False),
        ("europe/london", False),
        ("Europe/London ", False),
        (None, False),
        (5, False),
    ],
)
def test_is_valid_zone(name: object, valid: bool) -> None:
    assert is_valid_zone(name) is valid


def test_all_zones_are_sorted_iana_names_without_duplicates_trees() -> None:
    assert sorted(set(ALL_ZONES)) == ALL_ZONES
    assert {"UTC", "Asia/Kathmandu", "Pacific/Chatham", "Pacific/Kiritimati", "Australia/Lord_Howe"} <= set(
        ALL_ZONES
    )
    assert not [z for z in ALL_ZONES if z.startswith(("posix/", "right/")) or z in {"localtime", "Factory"}]
    assert all(is_valid_zone(z) for z in ALL_ZONES)


def test_wave_is_frozen_with_deterministic_id() -> None:
    wave = Wave.at(utc("2026-03-08T07:30:00"), ["B/Zone", "A/Zone", "B/Zone"])
    assert wave == Wave("w20260308T073000Z", utc("2026-03-08T07:30:00"), ("A/Zone", "B/Zone"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        wave.send_at = utc("2026-01-01T00:00:00")  # type: ignore[misc]


NINE = time(9, 0)
JAN15 = date(2026, 1, 15)


def test_plan_groups_zones_with_equal_offsets_and_sorts_by_send_at() -> None:
    zones = [
        "America/New_York",
        "Europe/London",
        "UTC",
        "America/Toronto",
        "Asia/Kathmandu",
        "Pacific/Kiritimati",
        "Pacific/Chatham",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "UTC",  # duplicates collapse
    ]
    result = plan_local_time(JAN15, NINE, zones, now=utc("2026-01-01T00:00:00"), if_passed="skip")
    assert result == PlanResult(
        waves=[
            Wave("w20260114T190000Z", utc("2026-01-14T19:00:00"), ("Pacific/Kiritimati",)),
            Wave("w20260114T191500Z", utc("2026-01-14T19:15:00"), ("Pacific/Chatham",)),
            Wave("w20260114T220000Z", utc("2026-01-14T22:00:00"), ("Australia/Lord_Howe",)),
            Wave("w20260115T031500Z", utc("2026-01-15T03:15:00"), ("Asia/Kathmandu",)),
            Wave("w20260115T090000Z", utc("2026-01-15T09:00:00"), ("Europe/London", "UTC")),
            Wave("w20260115T123000Z", utc("2026-01-15T12:30:00"), ("America/St_Johns",)),
            Wave("w20260115T140000Z", utc("2026-01-15T14:00:00"), ("America/New_York", "America/Toronto")),
        ],
        skipped=[],
    )


def test_plan_groups_by_instant_not_by_name_across_dst() -> None:
    # In July London (+1) no longer shares UTC's wave, but Lisbon (+1) does share London's.
    result = plan_local_time(
        date(2026, 7, 15), NINE, ["Europe/London", "UTC", "Europe/Lisbon"], now=utc("2026-01-01T00:00:00")
    )
    assert [(w.send_at, w.time_zones) for w in result.waves] == [
        (utc("2026-07-15T08:00:00"), ("Europe/Lisbon", "Europe/London")),
        (utc("2026-07-15T09:00:00"), ("UTC",)),
    ]


# Planned at 10:00:00.25Z on 2026-01-15 for 09:00 local that day. Kiritimati (19:00Z on the 14th),
# Kathmandu (03:15Z) and UTC (09:00Z) have passed; New York (14:00Z) and Honolulu (-10, 19:00Z) have not.
IF_PASSED_ZONES = ["UTC", "Asia/Kathmandu", "America/New_York", "Pacific/Kiritimati", "Pacific/Honolulu"]
IF_PASSED_NOW = utc("2026-01-15T10:00:00.250000")
IF_PASSED_TABLE = [
    (
        "skip",
        [
            ("2026-01-15T14:00:00", ("America/New_York",)),
            ("2026-01-15T19:00:00", ("Pacific/Honolulu",)),
        ],
        ["Asia/Kathmandu", "Pacific/Kiritimati", "UTC"],
    ),
    (
        "send_now",
        [
            ("2026-01-15T10:00:01", ("Asia/Kathmandu", "Pacific/Kiritimati", "UTC")),
            ("2026-01-15T14:00:00", ("America/New_York",)),
            ("2026-01-15T19:00:00", ("Pacific/Honolulu",)),
        ],
        [],
    ),
    (
        "next_day",
        [
            ("2026-01-15T14:00:00", ("America/New_York",)),
            # Kiritimati's 09:00 on the 16th is Honolulu's 09:00 on the 15th: one wave across the date line.
            ("2026-01-15T19:00:00", ("Pacific/Honolulu", "Pacific/Kiritimati")),
            ("2026-01-16T03:15:00", ("Asia/Kathmandu",)),
            ("2026-01-16T09:00:00", ("UTC",)),
        ],
        [],
    ),
]


@pytest.mark.parametrize(("if_passed", "waves", "skipped"), IF_PASSED_TABLE)
def test_plan_if_passed(if_passed: str, waves: list[tuple[str, tuple[str, ...]]], skipped: list[str]) -> None:
    result = plan_local_time(JAN15, NINE, IF_PASSED_ZONES, now=IF_PASSED_NOW, if_passed=if_passed)  # type: ignore[arg-type]
    assert [(w.send_at, w.time_zones) for w in result.waves] == [(utc(t), z) for t, z in waves]
    assert result.skipped == skipped


def test_plan_instant_equal_to_now_counts_as_passed() -> None:
    result = plan_local_time(JAN15, NINE, ["America/New_York"], now=utc("2026-01-15T14:00:00"))
    assert result == PlanResult(waves=[], skipped=["America/New_York"])


def test_send_now_wave_at_a_whole_second_is_not_moved() -> None:
    result = plan_local_time(JAN15, NINE, ["UTC"], now=utc("2026-01-15T10:00:00"), if_passed="send_now")
    assert result.waves == [Wave("w20260115T100000Z", utc("2026-01-15T10:00:00"), ("UTC",))]


def test_next_day_that_has_also_passed_is_skipped() -> None:
    result = plan_local_time(JAN15, NINE, ["UTC"], now=utc("2026-02-01T00:00:00"), if_passed="next_day")
    assert result == PlanResult(waves=[], skipped=["UTC"])


def test_next_day_follows_the_zone_dst_rules() -> None:
    # 02:30 on 2026-03-07 in New York is EST (07:30Z); the next day it falls in the gap -> 03:30 EDT.
    result = plan_local_time(
        date(2026, 3, 7),
        time(2, 30),
        ["America/New_York"],
        now=utc("2026-03-07T08:00:00"),
        if_passed="next_day",
    )
    assert [w.send_at for w in result.waves] == [utc("2026-03-08T07:30:00")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"if_passed": "later"}, "if_passed"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"zones": ["Europe/London", "Local"]}, "unknown time zone"),
    ],
)
def test_plan_local_time_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "day": JAN15,
        "wall_time": NINE,
        "zones": ["UTC"],
        "now": utc("2026-01-01T00:00:00"),
        "if_passed": "skip",
    }
    with pytest.raises(ValueError, match=message):
        plan_local_time(**{**args, **kwargs})  # type: ignore[arg-type]


def test_plan_at_and_plan_now_make_one_wave_for_all_zones() -> None:
    at = datetime(2026, 6, 1, 14, 30, 0, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert plan_at(at) == [Wave("w20260601T123001Z", utc("2026-06-01T12:30:01"), ())]
    assert plan_at(utc("2026-06-01T12:30:00"), ["UTC", "Asia/Kathmandu"]) == [
        Wave("w20260601T123000Z", utc("2026-06-01T12:30:00"), ("Asia/Kathmandu", "UTC"))
    ]
    assert plan_now(utc("2026-06-01T12:30:00.5")) == [
        Wave("w20260601T123001Z", utc("2026-06-01T12:30:01"), ())
    ]
    assert plan_at(at)[0].send_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("at", "zones", "message"),
    [
        (datetime(2026, 6, 1, 12, 30), None, "timezone-aware"),
        (datetime(2026, 6, 1, 12, 30, tzinfo=UTC), [], "must not be empty"),
        (datetime(2026, 6, 1, 12, 30, tzinfo=UTC), ["UTC", "Local"], "unknown time zones"),
    ],
)
def test_plan_at_rejects_bad_input(at: datetime, zones: list[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_at(at, zones)


def test_zones_for_wave_includes_zones_registered_after_planning() -> None:
    plan = plan_local_time(JAN15, NINE, ["America/New_York"], now=utc("2026-01-01T00:00:00"))
    (wave,) = plan.waves
    # By fire time the registry also knows Toronto (same offset), London (other wave) and junk.
    registry = ["Europe/London", "America/Toronto", "America/New_York", "posix/America/New_York", "Nowhere"]
    assert zones_for_wave(wave.send_at, JAN15, NINE, registry) == ["America/New_York", "America/Toronto"]


def test_zones_for_wave_applies_the_planning_policy_when_told() -> None:
    registry = ["Pacific/Kiritimati", "Etc/GMT-14", "Pacific/Honolulu", "Pacific/Tahiti", "UTC"]
    wave_at = utc("2026-01-15T19:00:00")
    # By day alone only the -10 zones land at 19:00Z on the 15th.
    assert zones_for_wave(wave_at, JAN15, NINE, registry) == ["Pacific/Honolulu", "Pacific/Tahiti"]
    # With next_day the +14 zones, already passed when planned, roll onto the same instant.
    assert zones_for_wave(wave_at, JAN15, NINE, registry, planned_at=IF_PASSED_NOW, if_passed="next_day") == [
        "Etc/GMT-14",
        "Pacific/Honolulu",
        "Pacific/Kiritimati",
        "Pacific/Tahiti",
    ]
    assert zones_for_wave(wave_at, JAN15, NINE, registry, planned_at=IF_PASSED_NOW, if_passed="skip") == [
        "Pacific/Honolulu",
        "Pacific/Tahiti",
    ]


@pytest.mark.parametrize("if_passed", ["skip", "send_now", "next_day"])
def test_zones_for_wave_reproduces_every_planned_wave(if_passed: str) -> None:
    # Planning against every zone and re-deriving each wave's zones at fire time must agree.
    day, wall, now = date(2026, 3, 8), time(2, 30), utc("2026-03-07T20:00:00")
    plan = plan_local_time(day, wall, ALL_ZONES, now=now, if_passed=if_passed)  # type: ignore[arg-type]
    assert len(plan.waves) > 20
    for wave in plan.waves:
        found = zones_for_wave(wave.send_at, day, wall, ALL_ZONES, planned_at=now, if_passed=if_passed)  # type: ignore[arg-type]
        assert tuple(found) == wave.time_zones
    planned = [z for w in plan.waves for z in w.time_zones]
    assert sorted(planned + plan.skipped) == ALL_ZONES


@pytest.mark.parametrize(("ahead", "queued"), [(-60, True), (0, True), (2, True), (2.5, False), (3600, False)])
def test_a_send_within_two_seconds_is_queued_rather_than_scheduled(ahead: float, queued: bool) -> None:
    now = utc("2026-12-07T10:00:00")
    assert due_now(now + timedelta(seconds=ahead), now) is queued
