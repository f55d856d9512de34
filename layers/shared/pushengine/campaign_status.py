"""A campaign's status, the one set of names every module reads and writes (stored as its string value).

scheduled -> sending -> completed          a one-off campaign (its waves fire, its batches drain)
active                                     an automated one (triggered, recurring, anniversary) running
paused                                     either kind held; resume returns it where it was
cancelled                                  ended by the API; queued batches stop at the sender
"""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Its waves and tasks go out (a paused campaign's wait for resume; a finished one's are dropped).
SENDABLE = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.ACTIVE})
# A one-off campaign that will still read its saved segments: they may not be deleted under it.
UNFINISHED = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED})
# What a cancel ends.
CANCELLABLE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.ACTIVE)
