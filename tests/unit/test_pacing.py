"""Provider-quota pacing's arithmetic: lanes, windows and where a claim lands."""

from __future__ import annotations

import pytest

from pushengine import pacing
from pushengine.dal import counters


def test_fcm_defaults_to_its_published_quota_and_an_override_wins() -> None:
    assert pacing.quota_of("fcm", None) == 600_000
    assert pacing.quota_of("fcm", 3_000_000) == 3_000_000
    assert pacing.quota_of("apns", None) is None  # Apple publishes no number: unpaced unless set
    assert pacing.lane_for("apns:com.example", None, transactional=False) is None


def test_transactional_sends_have_their_own_lane_with_the_rest_of_the_quota() -> None:
    campaign = pacing.lane_for("fcm:p", 600_000, transactional=False)
    receipt = pacing.lane_for("fcm:p", 600_000, transactional=True)
    assert campaign is not None and receipt is not None
    assert campaign.lane != receipt.lane  # separate counters: a campaign's backlog never fills it
    assert campaign.per_minute + receipt.per_minute == pytest.approx(600_000)


def test_one_second_windows_never_let_a_sliding_minute_pass_the_quota() -> None:
    lane = pacing.lane_for("fcm:p", 600_000, transactional=False)
    assert lane is not None
    # any 60 s overlaps at most 61 windows
    assert 61 * lane.per_window * lane.shards <= 600_000 * pacing.CAMPAIGN_SHARE


def test_a_raised_quota_is_split_over_counters_so_none_is_hot() -> None:
    lane = pacing.lane_for("fcm:p", 10_000_000 / pacing.CAMPAIGN_SHARE, transactional=False)
    assert lane is not None and lane.shards > 1
    assert lane.per_window <= pacing.SHARD_RATE
    assert lane.per_window / 250 <= 100  # claims (one per batch of 250) a second on one counter


@pytest.mark.parametrize(
    ("position", "count", "granted", "due", "next_window"),
    [
        (0, 8, True, 100.0, 0),  # first in its window: at the window's start
        (4, 4, True, 100.5, 0),  # half the window taken: half a second in
        (5, 4, False, 0, 101),  # would spill past the window: the next one
        (40, 4, False, 0, 105),  # five windows' worth queued ahead: straight to the fifth
    ],
)
def test_where_a_claim_lands(
    position: float, count: int, granted: bool, due: float, next_window: int
) -> None:
    placed = pacing.place(100, position, count, per_window=8)
    assert placed.granted is granted
    if granted:
        assert placed.due == pytest.approx(due)
    else:
        assert placed.next_window == next_window


def test_counter_shards_sum_maps_and_pending_batches() -> None:
    main = {"status": "sending", "stats": {"sent": 0}, "vstats": {"a": {"sent": 0}}, "tasks_pending": 0}
    shards = [
        {"stats": {"sent": 3}, "vstats": {"a": {"sent": 3}}, "errors": {"x": 1}, "batches_pending": 1},
        {
            "stats": {"sent": 2, "failed": 1},
            "vstats": {"a": {"sent": 2}, "b": {"failed": 1}},
            "batches_pending": -1,
        },
    ]
    total = counters.summed(main, shards)
    assert total["stats"] == {"sent": 5, "failed": 1}
    assert total["vstats"] == {"a": {"sent": 5}, "b": {"failed": 1}}
    assert total["errors"] == {"x": 1} and total["batches_pending"] == 0 and total["status"] == "sending"
