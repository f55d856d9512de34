"""Provider-quota pacing: every send batch takes its place in its provider project's quota before it sends.

A quota belongs to what the provider meters: an FCM project, an APNs topic (bundle id), a Web Push origin.
Its rate is the provider's published default (FCM: 600,000 messages a minute per project,
https://firebase.google.com/docs/cloud-messaging/throttling-and-quotas; Apple and the browser push services
publish no number, so they are paced only when an app sets one) or the app's override
(`quota_per_minute` on its provider credentials). Campaigns share CAMPAIGN_SHARE of it; transactional sends
have the rest as their own lane, so a campaign's backlog never delays them.

Time is cut into one-second windows; a window admits rate/60 notifications per lane, spread evenly over the
second, so no sliding minute ever sees more than the quota (a window admits a 61st of a minute's
share: a sliding minute overlaps at most 61 windows). A batch claims its devices in a window with one
counter write (`dal.quota.QuotaLedger`): the counter's value before the add is its place, and its place
says when it may send. A window already full sends the batch on to the window its place falls in (demand
queues in order), so a backlog costs each batch a few writes, not one per second waited. A window with
more than SHARD_RATE notifications a second is split over sub-counters, so no counter is hot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pushengine.channels import CHANNELS

# each push service's published quota (its channel's), None when it publishes none
DEFAULT_PER_MINUTE: dict[str, int | None] = {c.service: c.quota_per_minute for c in CHANNELS.values()}
CAMPAIGN_SHARE = 0.9  # of a quota; transactional sends keep the rest as their own lane
SHARD_RATE = 25_000  # notifications per second one window counter admits (~100 batch claims a second)
MAX_CLAIMS = 4  # windows one batch tries before it takes the last one's estimate as its place


@dataclass(frozen=True, slots=True)
class Lane:
    """One quota's lane: `scope` (e.g. "fcm:my-project"), `lane` ("campaign" | "transactional")."""

    scope: str
    lane: str
    per_minute: float  # this lane's share

    @property
    def per_second(self) -> float:
        """A 61st of the minute's share: any sliding minute overlaps at most 61 one-second windows."""
        return self.per_minute / 61

    @property
    def shards(self) -> int:
        return max(1, math.ceil(self.per_second / SHARD_RATE))

    @property
    def per_window(self) -> float:
        """What one sub-counter of a one-second window admits."""
        return self.per_second / self.shards


def lane_for(scope: str, quota_per_minute: float | None, transactional: bool) -> Lane | None:
    """The lane a send takes, or None when nothing limits this provider project."""
    if not quota_per_minute:
        return None
    share = 1 - CAMPAIGN_SHARE if transactional else CAMPAIGN_SHARE
    return Lane(scope, "transactional" if transactional else "campaign", quota_per_minute * share)


def quota_of(channel: str, override: int | float | None) -> float | None:
    return float(override) if override else DEFAULT_PER_MINUTE.get(channel)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a claim landed: granted with the instant it may send, or the window to try next."""

    granted: bool
    due: float = 0.0
    next_window: int = 0


def place(window: int, position: float, count: int, per_window: float) -> Placement:
    """A claim of `count` that found `position` already claimed in one-second `window`: granted if it fits
    (due at its place, spread over the second), else the window its place falls in (at least the next)."""
    if position + count <= max(per_window, count):  # a batch bigger than a window takes a window alone
        return Placement(True, due=window + min(position / per_window, 1.0 - 1e-6))
    return Placement(False, next_window=window + max(1, int(position // per_window)))
