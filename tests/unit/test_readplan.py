"""Audience reads sized to the zone: how many cursors a zone gets, how many pages each reads, the fan-out."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest

from pushengine import readplan
from pushengine.config import Settings
from pushengine.dal.devices import audience_key, audience_reads, partition_key, range_key

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


def test_a_small_zone_is_one_cursor_reading_its_buckets_whole_in_one_task() -> None:
    for count in (0, 1, 500, 8_000):
        assert readplan.cursors_for(count, PAGE, PAGES_PER_CURSOR) == 1
    only = readplan.key_range(0, 1)
    assert only.whole
    # one Query per bucket, none with a sort-key condition, plus the bare key of devices not yet re-keyed:
    # 17 Queries of at least 0.5 RRU each, whatever the zone's size below one page
    reads = audience_reads("app", "Europe/Paris", only)
    assert reads == [("app#Europe/Paris", None)] + [(f"app#Europe/Paris#{b:x}", None) for b in range(16)]


@pytest.mark.parametrize(
    ("hash_value", "bucket"),
    [(0x0000, 0), (0x0FFF, 0), (0x1000, 1), (0x7ABC, 7), (0xA000, 10), (0xFFFF, 15)],
)
def test_a_hash_sorts_in_the_bucket_of_its_top_hex_digit(hash_value: int, bucket: int) -> None:
    assert readplan.bucket_of(hash_value) == bucket == int(f"{hash_value:04x}"[0], 16)


@pytest.mark.parametrize("hash_value", [-1, readplan.HASH_SPACE])
def test_a_hash_outside_the_space_has_no_bucket(hash_value: int) -> None:
    with pytest.raises(ValueError, match="outside the hash space"):
        readplan.bucket_of(hash_value)


def test_a_device_is_written_under_the_bucket_its_sort_key_names() -> None:
    for device_id in (f"dev-{i}" for i in range(2_000)):
        ark = range_key(device_id)
        assert audience_key("app", "Asia/Tokyo", device_id) == partition_key("app", "Asia/Tokyo", int(ark[0], 16))
        assert audience_key("app", "Asia/Tokyo", device_id) == f"app#Asia/Tokyo#{ark[0]}"
    assert partition_key("app", "Asia/Tokyo") == "app#Asia/Tokyo"  # the bare key, before the buckets


@pytest.mark.parametrize(
    ("lo", "hi", "reads"),
    [
        (0, readplan.HASH_SPACE, [(b, b * 4096, (b + 1) * 4096, True) for b in range(16)]),
        (0x1000, 0x2000, [(1, 0x1000, 0x2000, True)]),  # exactly one bucket: no sort-key condition
        (0x1200, 0x1300, [(1, 0x1200, 0x1300, False)]),  # inside one bucket
        (0x0F00, 0x1100, [(0, 0x0F00, 0x1000, False), (1, 0x1000, 0x1100, False)]),  # across an edge
        (0x0F00, 0x3100, [(0, 0x0F00, 0x1000, False), (1, 0x1000, 0x2000, True), (2, 0x2000, 0x3000, True),
                          (3, 0x3000, 0x3100, False)]),
        (0xFFFF, 0x10000, [(15, 0xFFFF, 0x10000, False)]),
    ],
)
def test_a_key_range_is_read_as_whole_buckets_or_a_range_inside_one(
    lo: int, hi: int, reads: list[tuple[int, int, int, bool]]
) -> None:
    got = readplan.bucket_reads(readplan.KeyRange(lo, hi))
    assert [(r.bucket, r.lo, r.hi, r.whole) for r in got] == reads


@pytest.mark.parametrize("cursors", [1, 3, 16, 17, 100, 1_112, 4_096, readplan.HASH_SPACE])
def test_the_bucket_reads_of_a_plan_tile_the_hash_space_once(cursors: int) -> None:
    reads = [r for i in range(cursors) for r in readplan.bucket_reads(readplan.key_range(i, cursors))]
    assert reads[0].lo == 0 and reads[-1].hi == readplan.HASH_SPACE
    assert all(a.hi == b.lo for a, b in itertools.pairwise(reads))
    assert all(readplan.bucket_of(r.lo) == readplan.bucket_of(r.hi - 1) == r.bucket for r in reads)
    # no cursor reads more than its own range's buckets: at most two partial ones beside its whole ones
    for i in range(cursors):
        r = readplan.key_range(i, cursors)
        assert len(readplan.bucket_reads(r)) <= math.ceil((r.hi - r.lo) / readplan.BUCKET_WIDTH) + 1


def test_bucket_read_bounds_select_exactly_their_hashes_in_the_bucket() -> None:
    ids = [f"d{i}" for i in range(20_000)]
    for read in readplan.bucket_reads(readplan.KeyRange(0x0A00, 0x2345)):
        lo, hi = read.bounds()
        inside = {d for d in ids if lo <= range_key(d) <= hi and readplan.bucket_of(hash_of(d)) == read.bucket}
        assert inside == {d for d in ids if read.lo <= hash_of(d) < read.hi}


def test_a_ten_million_device_zone_takes_at_most_3000_rcu_on_any_key_at_the_planned_rate() -> None:
    """Issue 28: at 250,000 notifications a second in one zone and 0.08 RRU per device read (20,000 RCU),
    the plan's reads spread over enough index keys that none passes one partition's 3,000 RCU."""
    cursors = readplan.cursors_for(10_000_000, PAGE, PAGES_PER_CURSOR)
    rate = readplan.PLANNED_SENDS_PER_SECOND * readplan.RRU_PER_DEVICE
    assert rate == 20_000
    load = readplan.key_load(cursors, rate)
    # every key the plan reads, by the Queries its cursors send (the bare key holds nothing once migrated)
    keys = {aud for i in range(cursors)
            for aud, _ in audience_reads("app", "UTC", readplan.key_range(i, cursors))[1:]}  # fmt: skip
    assert len(keys) == len(load) == readplan.BUCKETS
    assert max(load.values()) <= readplan.PARTITION_RCU
    assert round(max(load.values())) == 1_259  # the figure in readplan's docstring
    assert sum(load.values()) >= rate  # every cursor counted in full on each bucket it touches


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
