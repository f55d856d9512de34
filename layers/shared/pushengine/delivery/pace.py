"""max_per_second: one timeline of send slots per wave, slot k due at the wave's origin + k/rate.

Every send of a paced wave takes a slot of its own, and goes no sooner than its slot, so no second of the
timeline holds more than `rate` sends whichever task, batch or delivery sends them. The origin is fixed by
the wave's first reservation (a second ahead of it, so the first slots are not already past when their
batches come off the queue). A reservation whose slots would already be past (a task that starts late, a
batch redelivered after its sender died) skips ahead to now: the skipped slots stay unused, so lateness
makes a wave slower, never faster. The counter and the origin live in the campaign's progress item
(`CampaignStore.reserve_slots`): one write a reservation, two when it skips.
"""

from __future__ import annotations

import math

from pushengine.ports import CampaignStore

LEAD_SECONDS = 1.0


def reserve(
    campaigns: CampaignStore, app_id: str, campaign_id: str, wave_id: str, count: int, rate: float, now: float
) -> float:
    """When the first of `count` consecutive slots of the wave's timeline is due (the rest 1/rate apart)."""
    earliest = now + LEAD_SECONDS
    first, origin = campaigns.reserve_slots(app_id, campaign_id, wave_id, count, earliest)
    if origin + first / rate >= earliest:
        return origin + first / rate
    # late: take a block whose last `count` slots start no sooner than `earliest` (others may add meanwhile,
    # which only moves the block later)
    due_slot = math.ceil((earliest - origin) * rate)
    block = max(count, due_slot - first)
    first, origin = campaigns.reserve_slots(app_id, campaign_id, wave_id, block, earliest)
    return origin + (first + block - count) / rate
