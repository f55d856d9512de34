"""Audience reads sized to the zone: how many cursors a zone gets, how many pages each reads, the fan-out."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest

from pushengine import readplan
from pushengine.config import Settings
from pushengine.dal.devices import range_key

PAGE = Settings().audience_page_size
PAGES_PER_CURSOR = Settings().audience_pages_per_task  # one invocation's worth: no cursor continues itself


def hash_of(device_id: str) -> int:
    return int(range_key(device_id)[:4], 16)


def test_a_ten_million_device_zone_is_read_by_at_least_200_cursors_of_bounded_pages() -> None:
    count = 10_000_000
    cursors = readplan.cursors_for(count, PAGE, PAGES_PER_CURSOR)
    assert cursors >= 200
    ranges = [readplan.key_range(i, cursors) for i in range(cursors)]
    # the ranges tile the hash space: every device is read by exactly one cursor
    assert ranges[0].lo == 0 and ranges[-1].hi == readplan.HASH_SPACE
    assert all(a.hi == b.lo for a, b in itertools.pairwise(ranges))
    # a cursor's devices are Binomial(count, share): even 6 standard deviations over its mean fit the bound
    widest = max(r.hi - r.lo for r in ranges) / readplan.HASH_SPACE
    mean = count * widest
    assert math.ceil((mean + 6 * math.sqrt(mean)) / PAGE) <= PAGES_PER_CURSOR
    # and real device ids do spread evenly over the hash space (each range within 6 sigma of its share)
    rng = random.Random(7)
    sample = 200_000
    hits = Counter(
        hash_of(f"dev-{rng.getrandbits(64):016x}") * 64 // readplan.HASH_SPACE for _ in range(sample)
    )
    expected = sample / 64
    assert all(abs(hits[i] - expected) <= 6 * math.sqrt(expected) for i in range(64))


def test_a_small_zone_is_one_query_over_the_whole_partition() -> None:
    for count in (0, 1, 500, 8_000):
        assert readplan.cursors_for(count, PAGE, PAGES_PER_CURSOR) == 1
    only = readplan.key_range(0, 1)
    assert only.whole  # no sort-key condition: one plain Query of the zone's partition


def test_cursor_count_grows_with_the_zone_and_stops_at_the_hash_space() -> None:
    sizes = [10_000, 100_000, 1_000_000, 100_000_000]
    counts = [readplan.cursors_for(n, PAGE, PAGES_PER_CURSOR) for n in sizes]
    assert counts == sorted(counts) and counts[-1] > counts[-2] > 1
    assert readplan.cursors_for(10**12, PAGE, PAGES_PER_CURSOR) == readplan.HASH_SPACE


def test_key_range_bounds_select_exactly_their_hashes() -> None:
    ids = [f"d{i}" for i in range(5_000)]
    cursors = 7
    for i in range(cursors):
        r = readplan.key_range(i, cursors)
        lo, hi = r.bounds()
        inside = {d for d in ids if lo <= range_key(d) <= hi}  # DynamoDB's BETWEEN on the sort key
        assert inside == {d for d in ids if r.lo <= hash_of(d) < r.hi}


@pytest.mark.parametrize("cursors", [1, 100, 101, 1_000, 10_000, readplan.HASH_SPACE])
def test_fan_out_queues_at_most_fan_out_messages_each_and_reaches_every_cursor(cursors: int) -> None:
    reached: list[int] = []
    pending = [(0, cursors)]
    depth = 0
    while pending:
        depth += 1
        nxt = []
        for lo, hi in pending:
            children = readplan.fan(lo, hi)
            assert len(children) <= readplan.FAN_OUT
            if hi - lo <= readplan.FAN_OUT:
                reached += [a for a, _ in children]
            else:
                nxt += children
        pending = nxt
    assert sorted(reached) == list(range(cursors))
    assert depth <= 3
