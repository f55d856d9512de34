"""Which campaigns a conversion posted without `campaign_id` counts for: the attribution window.

Nothing is written per device when a campaign sends (holdout devices are not even sent to), so
exposure is re-evaluated deterministically when the conversion arrives: a campaign exposed the
device when one of its fired waves covered the device's time zone (and, for a send-time variant,
the device's variant), the device existed and was opted in when it fired, and the device matches
the campaign's audience; the variant, or the holdout, is `targeting.assign`, exactly as the segment
query decided it. The conversion must come after that wave and within the app's window (7 days by
default). The app's recent campaigns are read once a minute per container (one Query and one
BatchGetItem of progress items per page); a conversion then costs one device read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pushengine import recurring
from pushengine.audience import parse_filter, segment_ids
from pushengine.models import CampaignSpec
from pushengine.targeting import HOLDOUT, assign

CACHE_SECONDS = 60.0
MAX_CAMPAIGNS = 500  # the newest campaigns an app's conversions are matched against
PAGE = 100


@dataclass(frozen=True, slots=True)
class Exposure:
    campaign_id: str
    variant: str  # a variant name, or HOLDOUT
    sent_at: datetime
    run: str | None = None  # the occurrence of a recurring campaign that reached the device


class CampaignLister(Protocol):
    def list(
        self, app_id: str, *, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def exposures(
    device: Mapping[str, Any],
    campaigns: Sequence[Mapping[str, Any]],
    at: datetime,
    window_days: int,
) -> list[Exposure]:
    """The campaigns (definition merged with progress) whose fired waves reached `device` (or held
    it back as holdout) at most `window_days` before `at`: the latest such wave of each."""
    if not device.get("opted_in", True) or device.get("status", "active") != "active":
        return []
    zone = str(device.get("timezone", "UTC"))
    created = _when(device["created_at"]) if device.get("created_at") else None
    found: list[Exposure] = []
    for campaign in campaigns:
        spec: CampaignSpec = campaign["spec"]
        if segment_ids(spec.audience) or spec.transactional:
            continue  # a saved segment's filter at fire time is not re-evaluated here; transactional is not measured
        campaign_id = str(campaign["campaign_id"])
        variant = assign(spec, campaign_id, str(device["device_id"]))
        run: str | None = None
        if spec.schedule.type == "recurring":  # its runs' waves are planned, not listed
            reached = recurring.run_reaching(spec, variant, zone, at)
            fired_runs = {str(r) for r in campaign.get("run_ids") or ()}
            latest = None
            if reached is not None and reached[0] in fired_runs:
                run, sent_at = reached
                if (created is None or created <= sent_at) and at <= sent_at + timedelta(days=window_days):
                    latest = sent_at
        else:
            latest = _latest_wave(campaign, zone, variant, created, at, window_days)
        if latest is None:
            continue
        audience = spec.audience
        if audience and not parse_filter(audience, expanded=True).matches(device, latest):
            continue
        found.append(Exposure(campaign_id, variant, latest, run))
    return found


def _latest_wave(
    campaign: Mapping[str, Any],
    zone: str,
    variant: str,
    created: datetime | None,
    at: datetime,
    window_days: int,
) -> datetime | None:
    """The latest fired wave of a one-off campaign that covered the device, within the window."""
    fired = set(campaign.get("fired_waves") or [])
    latest: datetime | None = None
    for wave in campaign.get("waves") or []:
        if wave["wave_id"] not in fired:
            continue
        sent_at = _when(wave["send_at"])
        if wave.get("zones") and zone not in wave["zones"]:
            continue
        if wave.get("variants") and variant not in wave["variants"]:
            continue
        if created is not None and created > sent_at:
            continue
        if not sent_at <= at <= sent_at + timedelta(days=window_days):
            continue
        latest = sent_at if latest is None else max(latest, sent_at)
    return latest


class RecentCampaigns:
    """Each app's newest campaigns, re-read at most once a minute per container."""

    def __init__(
        self,
        lister: CampaignLister,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = CACHE_SECONDS,
    ) -> None:
        self._lister, self._clock, self._ttl = lister, clock, ttl
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def of(self, app_id: str) -> list[dict[str, Any]]:
        with self._lock:
            hit = self._cache.get(app_id)
        if hit and self._clock() - hit[0] < self._ttl:
            return hit[1]
        items: list[dict[str, Any]] = []
        token: str | None = None
        while len(items) < MAX_CAMPAIGNS:
            page, token = self._lister.list(app_id, limit=PAGE, next_token=token)
            items += [i for i in page if i.get("fired_waves") or i.get("run_ids")]
            if token is None:
                break
        with self._lock:
            self._cache[app_id] = (self._clock(), items)
        return items


__all__ = ["HOLDOUT", "Exposure", "RecentCampaigns", "exposures"]
