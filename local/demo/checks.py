"""The demo's cross-checks: what the provider stand-ins accepted and refused, what each device should show
(computed from its own registration and the copy, not with the engine's compose code), and every number
the campaign reports held against both."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

from local.demo import page
from local.demo.scenario import COPY, IMAGE_URL, SEND_AT, URL, Device
from local.standins.apns import ApnsStandIn
from local.standins.fcm import FcmStandIn
from local.standins.webpush import WebPushStandIn


# ---------- what the stand-ins saw ----------
class ObservedFcm(FcmStandIn):
    """The FCM stand-in, also keeping each refused send, as the Web Push and APNs stand-ins do."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.refused: list[tuple[str, int]] = []
        self._refused_lock = threading.Lock()

    def _check_token(self, project: str, token: str) -> None:
        try:
            super()._check_token(project, token)
        except Exception as exc:  # the stand-in's reply (status, error body) travels as an exception
            with self._refused_lock:
                self.refused.append((token, int(getattr(exc, "status", 0))))
            raise


@dataclass(frozen=True)
class Delivery:
    device: Device
    title: str
    body: str
    url: str | None
    image: str | None


@dataclass
class Observed:
    """Everything the three providers accepted for the campaign and every refusal, per device."""

    deliveries: list[Delivery] = field(default_factory=list)
    refusals: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # device id -> statuses

    def delivered(self) -> Counter[str]:
        return Counter(d.device.device_id for d in self.deliveries)


def observe(campaign_id: str, by_address: dict[tuple[str, str], Device], web: WebPushStandIn,
            apns: ApnsStandIn, fcm: ObservedFcm) -> Observed:  # fmt: skip
    seen = Observed()
    for w in web.received:
        p = w.payload
        if isinstance(p, dict) and p.get("campaign_id") == campaign_id:
            seen.deliveries.append(Delivery(by_address["web", w.subscription_id], p["title"], p["body"],
                                            p.get("url"), p.get("image")))  # fmt: skip
    for sub_id, status, _ in list(web.requests_log):
        if status >= 400:
            seen.refusals[by_address["web", sub_id].device_id].append(status)
    for a in apns.received:
        if a.payload is None or a.payload.get("campaign_id") != campaign_id:
            continue
        if a.status == 200:
            alert = a.payload["aps"]["alert"]
            seen.deliveries.append(Delivery(by_address["ios", a.token], alert["title"], alert["body"],
                                            a.payload.get("url"), a.payload.get("image_url")))  # fmt: skip
        else:
            seen.refusals[by_address["ios", a.token].device_id].append(a.status)
    for f in fcm.received:
        data, note = f.message.get("data", {}), f.message.get("notification", {})
        if f.token and data.get("campaign_id") == campaign_id:
            seen.deliveries.append(Delivery(by_address["android", f.token], note["title"], note["body"],
                                            data.get("url"), note.get("image")))  # fmt: skip
    for token, status in list(fcm.refused):
        seen.refusals[by_address["android", token].device_id].append(status)
    return seen


def is_gone(statuses: list[int]) -> bool:
    return any(s in (404, 410) for s in statuses)


def retries(statuses: list[int]) -> int:
    return sum(1 for s in statuses if s == 429 or s >= 500)


# ---------- what each device should show, computed from its own registration ----------
def pick_copy(locale: str) -> str | None:
    """RFC 4647 lookup: the tag, then shorter prefixes (de-AT -> de), else the default."""
    keys = {k.lower(): k for k in COPY if k is not None}
    subtags = locale.lower().split("-")
    while subtags:
        if "-".join(subtags) in keys:
            return keys["-".join(subtags)]
        subtags.pop()
    return None


def expected(device: Device) -> tuple[str, str, str]:
    copy = COPY[pick_copy(device.body["locale"])]
    name = device.body["attributes"].get("first_name") or copy.friend
    vip = copy.vip if device.body["tags"].get("vip") else ""
    url = URL.format(plan=device.body["tags"]["plan"])
    return copy.title.format(name=name), copy.body.format(vip=vip), url


def cross_check(campaign: dict[str, Any], devices: list[Device], seen: Observed, waves: list[dict[str, Any]],
                friday: date, readback: dict[str, str]) -> list[page.Check]:  # fmt: skip
    stats = campaign["stats"]
    checks = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(page.Check(name, ok, detail))

    check("campaign status", campaign["status"] == "completed", campaign["status"])
    want_waves = defaultdict(list)
    for zone in sorted({d.zone for d in devices}):
        local = datetime.combine(friday, wall_time.fromisoformat(SEND_AT), ZoneInfo(zone))
        want_waves[local.astimezone(UTC)].append(zone)
    got_waves = {datetime.fromisoformat(w["send_at"]): sorted(w["time_zones"]) for w in waves}
    check(
        "waves = 09:00 local per zone (zoneinfo)",
        got_waves == dict(want_waves),
        f"{len(got_waves)} waves, {sum(map(len, got_waves.values()))} zones",
    )
    matched = [d for d in devices if d.matches]
    check(
        "targeted = devices matching the filter",
        stats.get("targeted") == len(matched),
        f"stats {stats.get('targeted')}, expected {len(matched)}",
    )
    opted_out = sum(1 for d in matched if not d.body["opted_in"])
    got_out = (stats.get("suppressed") or {}).get("opted_out")
    check("opted out suppressed", got_out == opted_out, f"stats {got_out}, expected {opted_out}")
    deferred = sum(1 for d in matched if d.body["opted_in"] and d.quiet_at_send)
    check(
        "quiet hours deferred",
        stats.get("deferred", 0) == deferred,
        f"stats {stats.get('deferred', 0)}, expected {deferred}",
    )
    delivered = seen.delivered()
    want = {d.device_id for d in devices if d.deliverable}
    check(
        "sent = distinct devices the stand-ins accepted",
        stats.get("sent") == len(delivered) == len(want),
        f"stats {stats.get('sent')}, accepted {len(delivered)}, expected {len(want)}",
    )
    check(
        "accepted exactly the expected devices",
        set(delivered) == want,
        f"{len(set(delivered) - want)} unexpected, {len(want - set(delivered))} missing",
    )
    dupes = [d for d, n in delivered.items() if n > 1]
    check("no device shown twice", not dupes, f"{len(dupes)} duplicates")
    stale = [d for d in devices if d.fault == "stale" and d.matches and d.body["opted_in"]]
    check(
        "pruned = planted stale tokens that were targeted",
        stats.get("pruned") == len(stale),
        f"stats {stats.get('pruned')}, planted and targeted {len(stale)}",
    )
    refused = sum(1 for d in stale if is_gone(seen.refusals.get(d.device_id, [])))
    check("stand-ins refused each targeted stale token", refused == len(stale), f"{refused}/{len(stale)}")
    invalid = [d for d in stale if readback.get(d.device_id) in ("invalid", "gone")]
    untouched = [
        d for d in devices if d.fault == "stale" and d not in stale and readback.get(d.device_id) == "active"
    ]
    check("pruned devices read back invalid; untargeted stale ones untouched",
          len(invalid) == len(stale) and len(untouched) == sum(1 for d in devices if d.fault == "stale") - len(stale),
          f"{len(invalid)} invalid, {len(untouched)} untargeted still active")  # fmt: skip
    check("failed", stats.get("failed", 0) == 0, f"stats {stats.get('failed', 0)}")
    wrong = [
        x for x in seen.deliveries if (x.title, x.body, x.url) != expected(x.device) or x.image != IMAGE_URL
    ]
    sample = (
        f"; e.g. {wrong[0].device.device_id}: {wrong[0].title!r} vs {expected(wrong[0].device)[0]!r}"
        if wrong
        else ""
    )
    check("every title/body/link = the device's locale and data", not wrong,
          f"{len(seen.deliveries) - len(wrong)}/{len(seen.deliveries)} as predicted{sample}")  # fmt: skip
    flaky = [d for d in devices if d.fault == "flaky"]
    retried = sum(
        1 for d in flaky if retries(seen.refusals.get(d.device_id, [])) == 2 and delivered[d.device_id]
    )
    check("flaky devices retried and delivered", retried == len(flaky), f"{retried}/{len(flaky)}")
    return checks


def engagement_checks(stats: dict[str, Any], engaged: dict[str, set[str]],
                      posted: dict[str, float]) -> list[page.Check]:  # fmt: skip
    checks = [page.Check(f"{stat} = distinct devices that posted it", stats.get(stat, 0) == len(devices),
                           f"stats {stats.get(stat, 0)}, posted {len(devices)}")
              for stat, devices in engaged.items()]  # fmt: skip
    revenue = float(stats.get("revenue", 0))
    checks.append(page.Check("revenue = sum of posted purchases", abs(revenue - posted["revenue"]) < 0.005,
                               f"stats {revenue:.2f}, posted {posted['revenue']:.2f}"))  # fmt: skip
    return checks
