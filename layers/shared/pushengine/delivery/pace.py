"""max_per_second: one timeline of send slots per campaign, slot k due at its origin + k/rate.

Every paced send takes a slot of its own and goes no sooner than its slot, so no second holds more than
`rate` sends of the campaign, whichever wave, task, batch or delivery sends them (waves of zones 15
minutes apart overlap when a wave takes longer than that). The origin is fixed by the first reservation
(a second ahead of it, so the first slots are not already past when their batches come off the queue). A
reservation whose slots would already be past (a later wave or run, a task that starts late, a batch
redelivered after its sender died) skips ahead to now: the skipped slots stay unused, so lateness makes
the campaign slower, never faster. The counter and the origin live in the campaign's progress item
(`CampaignStore.reserve_slots`): one write a reservation, two when it skips.
"""

from __future__ import annotations

import math

from pushengine.ports import CampaignStore

LEAD_SECONDS = 1.0
TIMELINE = "campaign"  # the progress item's name for it (its counter and `campaign@origin`)


def reserve(
    campaigns: CampaignStore, app_id: str, campaign_id: str, count: int, rate: float, now: float
) -> float:
    """When the first of `count` consecutive slots of the campaign's timeline is due (the rest 1/rate
    apart)."""
    earliest = now + LEAD_SECONDS
    first, origin = campaigns.reserve_slots(app_id, campaign_id, TIMELINE, count, earliest)
    if origin + first / rate >= earliest:
        return origin + first / rate
    # late: take a block whose last `count` slots start no sooner than `earliest` (others may add meanwhile,
    # which only moves the block later)
    due_slot = math.ceil((earliest - origin) * rate)
    block = max(count, due_slot - first)
    first, origin = campaigns.reserve_slots(app_id, campaign_id, TIMELINE, block, earliest)
    return origin + (first + block - count) / rate
