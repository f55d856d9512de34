"""Per-device decisions of a campaign: audience, opt-in, holdout, variant, quiet hours.

Pure and deterministic: the same (campaign, device) always lands in the same variant or in
the holdout, so the events function attributes conversions without storing assignments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pushengine.audience import Filter, parse_filter

if TYPE_CHECKING:
    from pushengine.models import CampaignSpec

HOLDOUT = "holdout"
DEFAULT_VARIANT = "default"
REST = "rest"  # an experiment's devices outside its test share: they wait for the winner
_SPEC: Any = object()  # Targeting's audience defaults to the spec's own


def bucket(campaign_id: str, device_id: str, salt: str = "") -> float:
    """A stable number in [0, 1) for this device in this campaign."""
    digest = hashlib.blake2b(f"{campaign_id}|{salt}|{device_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign(spec: CampaignSpec, campaign_id: str, device_id: str) -> str:
    """Holdout, the rest of an experiment (outside its test share), or the variant name this device gets."""
    if bucket(campaign_id, device_id, "holdout") * 100 < spec.holdout_percent:
        return HOLDOUT
    if spec.experiment is not None and bucket(campaign_id, device_id, "experiment") * 100 >= spec.experiment.test_percent:
        return REST
    variants = spec.variants or []
    if not variants:
        return DEFAULT_VARIANT
    point = bucket(campaign_id, device_id, "variant") * sum(v.weight for v in variants)
    for v in variants:
        point -= v.weight
        if point < 0:
            return v.name
    return variants[-1].name


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def quiet_until(quiet: Mapping[str, str] | None, zone: str, now: datetime) -> datetime | None:
    """When the device's quiet hours end, if `now` falls inside them (None when it may be notified)."""
    if not quiet:
        return None
    local = now.astimezone(_zone(zone))
    start, end = time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"])
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start <= end else (t >= start or t < end)  # windows may cross midnight
    if not inside or start == end:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    wall = datetime.combine(day, end)
    return wall.replace(tzinfo=_zone(zone)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str  # "send", "defer", or a stats key: suppressed_opted_out, suppressed_holdout, suppressed_quiet_hours
    variant: str = DEFAULT_VARIANT
    release_at: datetime | None = None


class Targeting:
    """A campaign's compiled per-device rules, built once per audience task."""

    def __init__(
        self,
        campaign_id: str,
        spec: CampaignSpec,
        *,
        audience: Any = _SPEC,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        """`audience`: the filter with its saved segments expanded, when the spec names segments.
        `defaults`: the app's settings (quiet hours for devices that have none)."""
        self.campaign_id = campaign_id
        self.spec = spec
        if audience is _SPEC:
            audience = spec.audience
        self.filter: Filter | None = parse_filter(audience, expanded=True) if audience else None
        self.quiet_policy = "ignore" if spec.transactional else spec.quiet_hours
        self.default_quiet = (defaults or {}).get("quiet_hours")

    def selects(self, device: Mapping[str, Any], now: datetime) -> bool:
        return self.filter is None or self.filter.matches(device, now)

    def decide(self, device: Mapping[str, Any], now: datetime) -> Decision:
        if not device.get("opted_in", True):
            return Decision("suppressed_opted_out")
        variant = assign(self.spec, self.campaign_id, str(device["device_id"]))
        if variant == HOLDOUT:
            return Decision("suppressed_holdout", HOLDOUT)
        if self.quiet_policy != "ignore":
            quiet = device.get("quiet_hours") or self.default_quiet
            until = quiet_until(quiet, str(device.get("timezone", "UTC")), now)
            if until is not None:
                if self.quiet_policy == "skip":
                    return Decision("suppressed_quiet_hours", variant)
                return Decision("defer", variant, until)
        return Decision("send", variant)
