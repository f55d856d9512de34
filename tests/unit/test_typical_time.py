"""The typical-time rule: tables of opens -> the device's local minute, and the app's busiest hour."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from pushengine import typical_time as tt

DAY = date(2026, 3, 20)
W = (8 * 60, 21 * 60)  # 08:00-21:00


def stamps(zone: str, *local: str, days_before: int = 1) -> list[int]:
    """Epoch minutes of opens at these local wall times, `days_before` the send day, in `zone`."""
    from zoneinfo import ZoneInfo

    day = DAY - timedelta(days=days_before)
    return [
        tt.epoch_minute(datetime.combine(day, datetime.strptime(t, "%H:%M").time(), ZoneInfo(zone)))
        for t in local
    ]


@pytest.mark.parametrize(
    ("opens", "window", "expected"),
    [
        (["09:10"], W, 9 * 60 + 10),  # one open: its minute
        (["09:10", "09:20", "09:40"], W, 9 * 60 + 20),  # odd count: the middle one
        (["09:10", "09:20", "09:40", "09:50"], W, 9 * 60 + 30),  # even: mean of the middle two
        (["09:10", "09:21"], W, 9 * 60 + 15),  # ... rounded down
        (["08:30", "19:00", "19:15", "19:59", "12:00"], W, 19 * 60 + 15),  # the densest hour wins
        (["08:00", "08:30", "19:00", "19:30"], W, 8 * 60 + 15),  # a tie: the earliest stretch
        (["07:50", "07:55", "08:05"], W, 8 * 60 + 5),  # outside the window does not count
        (["20:30", "20:45", "20:59"], W, 20 * 60 + 45),  # a stretch near the end stops at the end
        (["21:00", "23:00"], W, None),  # the end is not inside
        # 11:00 is past the hour from 10:00: a tie, the earliest
        (["10:00", "10:59", "11:00"], W, 10 * 60 + 29),
        (["10:00", "10:20", "10:40"], (10 * 60, 10 * 60 + 30), 10 * 60 + 10),  # a window under an hour
        ([], W, None),
    ],
)
def test_typical_minute(opens: list[str], window: tuple[int, int], expected: int | None) -> None:
    assert tt.typical_minute(stamps("Europe/Berlin", *opens), "Europe/Berlin", DAY, *window) == expected


def test_opens_are_read_in_the_zone_of_their_own_day_across_dst() -> None:
    # 09:00 Berlin the day before DST starts (UTC+1) and the week after (UTC+2): the same local minute
    before = stamps("Europe/Berlin", "09:00", days_before=10)  # 10 March: CET
    after = [tt.epoch_minute(datetime(2026, 4, 2, 7, 0, tzinfo=UTC))]  # 09:00 CEST
    assert tt.typical_minute(before + after, "Europe/Berlin", date(2026, 4, 3), *W) == 9 * 60


@pytest.mark.parametrize(("days_before", "kept"), [(0, True), (89, True), (90, False), (-1, False)])
def test_only_the_last_90_days_count(days_before: int, kept: bool) -> None:
    got = tt.typical_minute(
        stamps("Asia/Kathmandu", "18:05", days_before=days_before), "Asia/Kathmandu", DAY, *W
    )
    assert got == (18 * 60 + 5 if kept else None)


def test_the_same_stamps_read_in_another_zone_give_that_zones_time() -> None:
    utc_noon = [tt.epoch_minute(datetime(2026, 3, 19, 12, 0, tzinfo=UTC))]
    assert tt.typical_minute(utc_noon, "America/St_Johns", DAY, *W) == 9 * 60 + 30  # NDT in March: UTC-2:30
    assert tt.typical_minute(utc_noon, "Asia/Kathmandu", DAY, *W) == 17 * 60 + 45  # UTC+5:45


@pytest.mark.parametrize(
    ("hours", "window", "expected"),
    [
        ({}, W, 8 * 60),  # no history: the window's start
        ({19: 5, 9: 3}, W, 19 * 60),
        ({9: 4, 19: 4}, W, 9 * 60),  # a tie: the earliest
        ({3: 50, 12: 1}, W, 12 * 60),  # the busiest hour outside the window does not count
        ({7: 9, 12: 1}, (7 * 60 + 30, W[1]), 7 * 60 + 30),  # an hour that starts before the window: its start
        ({21: 9}, W, 8 * 60),  # 21:00-22:00 lies past an end of 21:00
    ],
)
def test_busiest_minute(hours: dict[int, int], window: tuple[int, int], expected: int) -> None:
    assert tt.busiest_minute(hours, *window) == expected


def test_newest_keeps_the_newest_oldest_first() -> None:
    assert tt.newest([5, 1, 9, 3], keep=2) == [5, 9]


BERLIN_DAY = date(2026, 12, 9)  # CET, UTC+1: the window 08:00-21:00 is 07:00-20:00 UTC


@pytest.mark.parametrize(
    ("now", "if_passed", "expected"),
    [
        (datetime(2026, 12, 9, 6, 0, tzinfo=UTC), "skip", datetime(2026, 12, 9, 7, 0, tzinfo=UTC)),  # at its start
        (datetime(2026, 12, 9, 12, 30, 0, 500, tzinfo=UTC), "skip", datetime(2026, 12, 9, 12, 30, 1, tzinfo=UTC)),
        (datetime(2026, 12, 9, 20, 0, tzinfo=UTC), "skip", None),  # the whole window has passed
        (datetime(2026, 12, 9, 20, 0, tzinfo=UTC), "send_now", datetime(2026, 12, 9, 20, 0, tzinfo=UTC)),
        (datetime(2026, 12, 9, 20, 0, tzinfo=UTC), "next_day", datetime(2026, 12, 10, 7, 0, tzinfo=UTC)),
    ],
)
def test_plan_intelligent_reads_each_zone_at_its_windows_start(
    now: datetime, if_passed: Any, expected: datetime | None
) -> None:
    from pushengine import waves

    result = waves.plan_intelligent(BERLIN_DAY, time(8), time(21), ["Europe/Berlin"], now, if_passed)
    assert [w.send_at for w in result.waves] == ([expected] if expected else [])
    assert result.skipped == ([] if expected else ["Europe/Berlin"])
    if expected:  # the tasks of a next day's wave send on the next day
        day = waves.intelligent_day(BERLIN_DAY, time(8), "Europe/Berlin", expected, if_passed)
        assert day == (BERLIN_DAY + timedelta(days=1) if if_passed == "next_day" else BERLIN_DAY)


NINE_OPENS = [tt.epoch_minute(datetime(2026, 12, 1, 8, 40, tzinfo=UTC))]  # 09:40 in Berlin


@pytest.mark.parametrize(
    ("opens", "now", "if_passed", "expected"),
    [
        (NINE_OPENS, datetime(2026, 12, 9, 7, 0, tzinfo=UTC), "skip", datetime(2026, 12, 9, 8, 40, tzinfo=UTC)),
        ([], datetime(2026, 12, 9, 7, 0, tzinfo=UTC), "skip", datetime(2026, 12, 9, 12, 0, tzinfo=UTC)),  # 13:00
        (NINE_OPENS, datetime(2026, 12, 9, 10, 0, tzinfo=UTC), "skip", None),  # its minute has passed
        (NINE_OPENS, datetime(2026, 12, 9, 10, 0, tzinfo=UTC), "send_now", datetime(2026, 12, 9, 10, 0, tzinfo=UTC)),
        (NINE_OPENS, datetime(2026, 12, 9, 10, 0, tzinfo=UTC), "next_day", datetime(2026, 12, 10, 8, 40, tzinfo=UTC)),
    ],
)
def test_due_at(opens: list[int], now: datetime, if_passed: Any, expected: datetime | None) -> None:
    window = (8 * 60, 21 * 60)
    assert tt.due_at(opens, "Europe/Berlin", BERLIN_DAY, window, 13 * 60, now, if_passed) == expected


@pytest.mark.parametrize(
    ("due", "slot", "held"),
    [
        (datetime(2026, 12, 9, 8, 40, tzinfo=UTC), datetime(2026, 12, 9, 8, 30, tzinfo=UTC), 600),
        (datetime(2026, 12, 9, 8, 30, tzinfo=UTC), datetime(2026, 12, 9, 8, 30, tzinfo=UTC), 0),
        (datetime(2026, 12, 9, 8, 44, 59, tzinfo=UTC), datetime(2026, 12, 9, 8, 30, tzinfo=UTC), 899),
    ],
)
def test_a_device_waits_in_its_quarter_hour_then_is_held_to_its_minute(due: datetime, slot: datetime, held: int) -> None:
    assert tt.slot_of(due) == slot
    assert tt.delay_seconds(due, slot) == held <= tt.SLOT_SECONDS
    assert tt.delay_seconds(due, due + timedelta(seconds=5)) == 0
