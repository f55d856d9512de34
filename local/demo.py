"""The main job on one command: a Black-Friday campaign played through a whole day on the local stack.

`python -m local.demo [--devices N] [--latency S] [--seed N] [--report PATH]` (`make demo`):

1. starts the embedded stack on template.yaml and the APNs, FCM and Web Push stand-ins in-process;
2. creates an app and its provider credentials over the HTTP API, registers a mixed audience over HTTP
   and plants stale tokens (to be pruned) and flaky ones (to be retried);
3. creates a `local_time` campaign (09:00 next Friday in every zone), then drives the clock from one
   due schedule to the next, firing it and draining the queues, with a line per step;
4. posts opens, clicks and purchases, prints the summary and writes an HTML report;
5. exits 1 if any number disagrees: campaign stats against what the stand-ins accepted and refused,
   and every accepted title, body and link against what the device's own data predicts (computed
   here from the registration and the copy below, not with the engine's compose code).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import secrets
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local import report
from local.standins.apns import ApnsStandIn
from local.standins.fcm import FcmStandIn
from local.standins.webpush import WebPushStandIn
from samlocal import Clock, LocalRuntime

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ("web", "ios", "android")
BUNDLE_ID, FCM_PROJECT = "com.example.shop", "shop-demo"
SEND_AT = "09:00"
IMAGE_URL = "https://cdn.shop.example.com/black-friday.png"

# (zone, weight, country, locales): a storefront's audience, including the zones with odd offsets.
MARKETS: list[tuple[str, int, str, list[str]]] = [
    ("America/New_York", 14, "US", ["en", "en-US", "es"]),
    ("America/Chicago", 8, "US", ["en-US", "es-MX"]),
    ("America/Denver", 3, "US", ["en-US"]),
    ("America/Los_Angeles", 10, "US", ["en", "en-US", "es"]),
    ("America/St_Johns", 1, "CA", ["en-CA", "fr-CA"]),
    ("America/Mexico_City", 4, "MX", ["es-MX", "es"]),
    ("America/Sao_Paulo", 6, "BR", ["pt-BR"]),
    ("Europe/London", 9, "GB", ["en-GB"]),
    ("Europe/Dublin", 2, "IE", ["en-IE", "en-GB"]),
    ("Europe/Berlin", 8, "DE", ["de", "de-DE"]),
    ("Europe/Vienna", 2, "AT", ["de-AT"]),
    ("Europe/Paris", 6, "FR", ["fr", "fr-FR"]),
    ("Europe/Madrid", 4, "ES", ["es", "es-ES"]),
    ("Europe/Lisbon", 2, "PT", ["pt-PT"]),  # no pt-PT copy, and pt-BR is never guessed: English
    ("Africa/Lagos", 2, "NG", ["en"]),
    ("Asia/Kolkata", 5, "IN", ["en-IN", "hi"]),
    ("Asia/Kathmandu", 1, "NP", ["en", "ne"]),
    ("Asia/Singapore", 2, "SG", ["en-SG", "zh-Hans-SG"]),
    ("Asia/Tokyo", 5, "JP", ["ja", "ja-JP"]),
    ("Australia/Sydney", 3, "AU", ["en-AU"]),
    ("Australia/Lord_Howe", 1, "AU", ["en-AU"]),
    ("Pacific/Auckland", 2, "NZ", ["en-NZ"]),
    ("Pacific/Chatham", 1, "NZ", ["en-NZ"]),
    ("Pacific/Kiritimati", 1, "KI", ["en"]),
]
NAMES = {
    "en": ["Olivia", "Liam", "Emma", "Noah", "Ava", "Zoë", "Mia", "Jack"],
    "de": ["Lukas", "Anna", "Jürgen", "Lea", "Felix"],
    "fr": ["Élodie", "Théo", "Chloé", "Louis"],
    "es": ["José", "Lucía", "Martín", "Sofía"],
    "pt": ["João", "Ana", "Luíza", "Gabriel"],
    "ja": ["陽翔", "さくら", "蓮", "結衣"],
    "hi": ["Priya", "Arjun", "Ananya"],
    "ne": ["Sita", "Bikash"],
    "zh": ["伟", "芳"],
}


@dataclass(frozen=True)
class Copy:
    """One language's text. `{name}` and `{vip}` mark where Liquid goes in the campaign."""

    title: str
    friend: str  # the name used when a device has no first_name
    body: str
    vip: str  # prefix for VIP devices


COPY: dict[str | None, Copy] = {  # None: the default message
    None: Copy("Black Friday, {name}!", "friend", "{vip}Up to 60% off everything for 24 hours.",
               "VIP early access: "),
    "de": Copy("Black Friday, {name}!", "Freund", "{vip}Bis zu 60 % Rabatt auf alles, nur 24 Stunden.",
               "VIP-Vorabzugang: "),
    "fr": Copy("Black Friday, {name} !", "ami", "{vip}Jusqu'à -60 % sur tout pendant 24 heures.",
               "Accès VIP anticipé : "),
    "pt-BR": Copy("Black Friday, {name}!", "amigo", "{vip}Até 60% de desconto em tudo por 24 horas.",
                  "Acesso VIP antecipado: "),
    "es": Copy("¡Black Friday, {name}!", "amigo", "{vip}Hasta un 60 % de descuento en todo durante 24 horas.",
               "Acceso VIP anticipado: "),
    "ja": Copy("ブラックフライデー、{name}さん！", "お客", "{vip}24時間限定、全品最大60%オフ。", "VIP先行アクセス："),  # noqa: RUF001 - Japanese punctuation
}  # fmt: skip
URL = "shop://deals/black-friday?plan={plan}"


def liquid(copy: Copy) -> dict[str, str]:
    """The campaign's Liquid templates for one language."""
    name = "{{ attributes.first_name | default: '" + copy.friend + "' }}"
    vip = "{% if tags.vip %}" + copy.vip + "{% endif %}"
    return {"title": copy.title.format(name=name), "body": copy.body.format(vip=vip)}


def campaign_body(friday: date) -> dict[str, Any]:
    return {
        "name": f"Black Friday {friday:%Y-%m-%d}",
        "message": {
            **liquid(COPY[None]),
            "image_url": IMAGE_URL,
            "url": URL.format(plan="{{ tags.plan }}"),
            "localizations": {loc: liquid(c) for loc, c in COPY.items() if loc is not None},
        },
        "audience": {
            "any": [
                {"attr": "tags.plan", "op": "eq", "value": "pro"},
                {"attr": "tags.cart_value", "op": "gt", "value": 50},
            ]
        },
        "schedule": {"type": "local_time", "date": friday.isoformat(), "time": SEND_AT, "if_passed": "skip"},
        "ttl_seconds": 6 * 3600,
    }


# ---------- the audience ----------
@dataclass
class Device:
    device_id: str
    platform: str
    address: str  # APNs/FCM token, or the Web Push subscription id
    body: dict[str, Any]
    fault: str | None = None  # "stale" (provider says gone) or "flaky" (two 5xx, then fine)

    @property
    def zone(self) -> str:
        return str(self.body["timezone"])

    @property
    def matches(self) -> bool:
        """The campaign's filter, evaluated here from the registration: plan pro OR cart_value > 50."""
        tags = self.body["tags"]
        cart = tags.get("cart_value")
        return tags.get("plan") == "pro" or (isinstance(cart, int | float) and cart > 50)

    @property
    def quiet_at_send(self) -> bool:
        quiet = self.body.get("quiet_hours")
        if not quiet:
            return False
        start, end, t = (wall_time.fromisoformat(v) for v in (quiet["start"], quiet["end"], SEND_AT))
        return start <= t < end if start <= end else (t >= start or t < end)

    @property
    def deliverable(self) -> bool:
        return self.matches and self.body["opted_in"] and self.fault != "stale"


def make_audience(n: int, rng: random.Random, web: WebPushStandIn, apns: ApnsStandIn, fcm: FcmStandIn,
                  vapid_key: str) -> list[Device]:  # fmt: skip
    zones = rng.choices(MARKETS, weights=[m[1] for m in MARKETS], k=n)
    devices = []
    for i, (zone, _, country, locales) in enumerate(zones):
        platform = rng.choices(PLATFORMS, weights=[35, 35, 30])[0]
        locale = rng.choice(locales)
        body: dict[str, Any] = {
            "platform": platform, "timezone": zone, "locale": locale, "country": country,
            "user_id": f"user-{i:05d}",
            "tags": {"plan": "pro" if rng.random() < 0.3 else "free", "vip": rng.random() < 0.1},
            "attributes": {},
            "opted_in": rng.random() > 0.08,
        }  # fmt: skip
        if rng.random() < 0.7:
            body["tags"]["cart_value"] = round(rng.uniform(0, 250), 2)
        if rng.random() < 0.85:
            body["attributes"]["first_name"] = rng.choice(NAMES.get(locale.split("-")[0], NAMES["en"]))
        roll = rng.random()
        if roll < 0.03:
            body["quiet_hours"] = {"start": "08:00", "end": "10:00"}  # covers 09:00: held until 10:00 local
        elif roll < 0.06:
            body["quiet_hours"] = {"start": "22:00", "end": "07:00"}  # overnight: no effect at 09:00
        if platform == "web":
            sub = web.new_subscription(vapid_key)
            body["subscription"], address = sub, web.subscription_id(sub)
        elif platform == "ios":
            body["token"] = address = apns.new_token(BUNDLE_ID)
        else:
            body["token"] = address = fcm.new_token(FCM_PROJECT)
        devices.append(Device(f"{platform}-{i:05d}", platform, address, body))
    return devices


def plant_faults(devices: list[Device], rng: random.Random, web: WebPushStandIn, apns: ApnsStandIn,
                 fcm: FcmStandIn) -> None:  # fmt: skip
    """Stale tokens (targeted ones and a few outside the filter) and one flaky device per platform."""
    stale_each = max(1, min(5, len(devices) // 600))
    for platform in PLATFORMS:
        plain = [d for d in devices if d.platform == platform and d.body["opted_in"]
                 and not d.body.get("quiet_hours")]  # fmt: skip
        targeted = [d for d in plain if d.matches]
        outside = [d for d in plain if not d.matches]
        for d in rng.sample(targeted, stale_each + 1)[:stale_each] + rng.sample(outside, 1):
            d.fault = "stale"
        flaky = rng.choice([d for d in targeted if d.fault is None])
        flaky.fault = "flaky"
    for d in devices:
        if d.platform == "web" and d.fault:
            web.fail(d.body["subscription"], *((500, 500) if d.fault == "flaky" else ()),
                     always=410 if d.fault == "stale" else None)  # fmt: skip
        elif d.platform == "ios" and d.fault:
            apns.fail(d.address, "InternalServerError", times=2) if d.fault == "flaky" else apns.fail(
                d.address, "Unregistered"
            )
        elif d.platform == "android" and d.fault:
            fcm.fail(d.address, "UNAVAILABLE", times=2) if d.fault == "flaky" else fcm.fail(
                d.address, "UNREGISTERED"
            )


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


# ---------- HTTP ----------
class Api:
    def __init__(self, http: httpx.Client, key: str) -> None:
        self.http, self.key = http, key

    def call(self, method: str, path: str, body: Any = None, expect: Iterable[int] = (200, 201, 202)) -> Any:
        r = self.http.request(method, path, json=body, headers={"authorization": f"Bearer {self.key}"})
        if r.status_code not in tuple(expect):
            raise SystemExit(f"demo: {method} {path} answered {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None


def run_pool(what: str, items: list[Any], work: Callable[[Any], None], workers: int = 16) -> float:
    """Run `work` over items on a thread pool with one progress line; returns the seconds taken."""
    started, done, lock = time.monotonic(), [0], threading.Lock()

    def one(item: Any) -> None:
        work(item)
        with lock:
            done[0] += 1
            if (done[0] % 100 == 0 and sys.stdout.isatty()) or done[0] == len(items):
                rate = done[0] / max(time.monotonic() - started, 1e-6)
                print(f"\r  {what}: {done[0]:,}/{len(items):,} ({rate:,.0f}/s)", end="", flush=True)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, items))
    print()
    return time.monotonic() - started


def setup_app(
    http: httpx.Client, admin_key: str, apns: ApnsStandIn, fcm: FcmStandIn
) -> tuple[Api, Api, str, str]:
    created = Api(http, admin_key).call("POST", "/v1/apps", {"name": "Shop"})
    app_id = created["app_id"]
    server, client = Api(http, created["server_key"]), Api(http, created["client_key"])
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    apns.register_key("SHOPTEAM01", "SHOPKEY001", public)
    apns.allow_topic(BUNDLE_ID)
    server.call("PUT", f"/v1/apps/{app_id}/providers/apns", {"team_id": "SHOPTEAM01", "key_id": "SHOPKEY001",
                "private_key": pem, "bundle_id": BUNDLE_ID, "environment": "production"})  # fmt: skip
    server.call(
        "PUT", f"/v1/apps/{app_id}/providers/fcm", {"service_account": fcm.new_service_account(FCM_PROJECT)}
    )
    vapid = server.call(
        "PUT", f"/v1/apps/{app_id}/providers/webpush", {"subject": "mailto:ops@shop.example.com"}
    )
    return server, client, app_id, vapid["public_key"]


# ---------- the run ----------
def next_friday(today: date) -> date:
    """The next Friday at least two days ahead, so 09:00 has not passed anywhere (Kiritimati is +14)."""
    days = (4 - today.weekday()) % 7
    return today + timedelta(days=days + 7 if days < 2 else days)


def wave_of(zone_waves: list[dict[str, Any]]) -> dict[str, int]:
    return {z: i for i, w in enumerate(zone_waves, 1) for z in w["time_zones"]}


def short_zones(zones: list[str], width: int = 46) -> str:
    text = ", ".join(z.split("/")[-1] for z in zones)
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Outcome:
    steps: list[report.Step]
    checks: list[report.Check]
    tables: list[report.Table]
    examples: list[report.Example]
    facts: list[tuple[str, str]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=3000, help="audience size (default 3000)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each provider stand-in waits")
    parser.add_argument("--seed", type=int, default=2026, help="random seed for the audience")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "demo.html")
    args = parser.parse_args(argv)
    if args.devices < 60:
        parser.error("--devices: at least 60, so every platform has targeted and untargeted devices")
    started = time.monotonic()
    rng = random.Random(args.seed)
    admin_key = "demo-admin-" + secrets.token_urlsafe(24)
    with ExitStack() as stack_of:
        web = stack_of.enter_context(WebPushStandIn(args.latency))
        apns = stack_of.enter_context(ApnsStandIn(args.latency))
        fcm = ObservedFcm(args.latency)
        stack_of.enter_context(fcm)
        stack = stack_of.enter_context(LocalRuntime(
            ROOT / "template.yaml",
            parameters={
                "AdminKeyHash": hashlib.sha256(admin_key.encode()).hexdigest(),
                "ShardCount": "4", "SendBatchSize": "250",
                "WebPushAllowedHosts": web.base_url.split("//", 1)[1],
                "ApnsEndpoint": apns.base_url, "FcmEndpoint": fcm.base_url,
            },
            env={"POWERTOOLS_LOG_LEVEL": "WARNING"},  # the handlers' INFO lines would bury the demo's
            clock=Clock(datetime.now(UTC).replace(microsecond=0)),
            visibility_timeout=1,
            background=False,
            strict=True,  # AWS's limits enforced, as on a real account
        ))  # fmt: skip
        http = stack_of.enter_context(httpx.Client(base_url=stack.api_url, timeout=60,
                                                   limits=httpx.Limits(max_connections=32)))  # fmt: skip
        print(f"stack up in {time.monotonic() - started:.1f}s: API {stack.api_url}, AWS {stack.aws_url}")
        print(f"stand-ins: Web Push {web.base_url}, APNs {apns.base_url} (h2c), FCM {fcm.base_url}"
              f"{f', latency {args.latency}s' if args.latency else ''}")  # fmt: skip
        server, client, app_id, vapid_key = setup_app(http, admin_key, apns, fcm)
        print(f"app {app_id}: APNs key, FCM service account and VAPID keys set through the API")
        devices = make_audience(args.devices, rng, web, apns, fcm, vapid_key)
        register_s = run_pool("registering devices", devices,
                              lambda d: client.call("PUT", f"/v1/devices/{d.device_id}", d.body))  # fmt: skip
        plant_faults(devices, rng, web, apns, fcm)
        outcome = play(args, rng, stack, server, client, devices, web, apns, fcm, register_s, started)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report.render(report.DemoReport(
        "Black Friday on the local stack", outcome.facts, outcome.steps, outcome.tables, outcome.examples,
        outcome.checks)), encoding="utf-8")  # fmt: skip
    for table in outcome.tables:
        print_table(table)
    print("\ncross-checks:")
    for check in outcome.checks:
        print(f"  {'ok ' if check.ok else 'MISMATCH'} {check.name}: {check.detail}")
    print(f"\nreport: {args.report}")
    print(f"total {time.monotonic() - started:.1f}s")
    failed = [c for c in outcome.checks if not c.ok]
    if failed:
        print(
            f"demo: {len(failed)} cross-check(s) disagree: " + "; ".join(c.name for c in failed),
            file=sys.stderr,
        )
        return 1
    return 0


def play(args: argparse.Namespace, rng: random.Random, stack: LocalRuntime, server: Api, client: Api,
         devices: list[Device], web: WebPushStandIn, apns: ApnsStandIn, fcm: ObservedFcm,
         register_s: float, started: float) -> Outcome:  # fmt: skip
    friday = next_friday(stack.clock.now().date())
    created = server.call("POST", "/v1/campaigns", campaign_body(friday))
    campaign_id = created["campaign_id"]
    waves = sorted(created["waves"], key=lambda w: w["send_at"])
    zone_wave = wave_of(waves)
    print(f"campaign {campaign_id}: 09:00 local on {friday:%a %d %b %Y} in {len(zone_wave)} zones "
          f"-> {len(waves)} waves")  # fmt: skip
    by_address = {(d.platform, d.address): d for d in devices}

    # Play the day: jump to each due schedule, fire it, drain the queues, count what arrived.
    steps: list[report.Step] = []
    before: Counter[str] = Counter()
    play_started, idle = time.monotonic(), 0
    while (due := stack.next_schedule_due()) is not None and len(steps) < 200:
        step_started = time.monotonic()
        stack.clock.set(due)
        fired = stack.fire_due_schedules()
        stack.drain(timeout=300)
        seen = observe(campaign_id, by_address, web, apns, fcm)
        now_count = Counter(d.device.platform for d in seen.deliveries)
        delivered = {p: now_count[p] - before[p] for p in PLATFORMS}
        before = now_count
        wave_ids = [i for i, w in enumerate(waves, 1) if datetime.fromisoformat(w["send_at"]) == due]
        releases = sum(1 for f in fired if f.name.startswith("d-"))  # deferred (quiet-hours) batches
        if not wave_ids and not releases and not any(delivered.values()):
            idle += 1  # a wave for zones where the app has no device: the engine plans every zone
            continue
        label = " + ".join(
            [f"wave {i}" for i in wave_ids] + ([f"{releases} quiet-hours release"] if releases else [])
        )
        zones = [z for i in wave_ids for z in waves[i - 1]["time_zones"]]
        steps.append(report.Step(due, label, zones, delivered, time.monotonic() - step_started))
        print(f"  {due:%a %H:%M}Z  {label:<30} {short_zones(zones):<46} "
              + "  ".join(f"{p} {delivered[p]:>4}" for p in PLATFORMS)
              + f"  ({time.monotonic() - step_started:.1f}s)")  # fmt: skip
    print(f"  ... and {idle} waves for zones without devices (the engine plans every IANA zone)")
    play_s = time.monotonic() - play_started
    seen = observe(campaign_id, by_address, web, apns, fcm)
    engaged, posted = post_events(rng, client, campaign_id, seen)
    campaign = server.call("GET", f"/v1/campaigns/{campaign_id}")
    readback = read_back(client, [d for d in devices if d.fault == "stale"])
    checks = cross_check(campaign, devices, seen, waves, friday, readback)
    checks += engagement_checks(campaign["stats"], engaged, posted)
    tables = summary_tables(campaign, devices, seen, waves, zone_wave, engaged, posted)
    facts = [
        ("devices registered", f"{len(devices):,} in {register_s:.1f}s"),
        ("time zones", str(len({d.zone for d in devices}))),
        ("waves", str(len(waves))),
        ("campaign", f"{campaign['name']} · {campaign['status']}"),
        ("sent", f"{campaign['stats'].get('sent', 0):,}"),
        ("day played in", f"{play_s:.1f}s"),
        ("total run", f"{time.monotonic() - started:.1f}s"),
    ]
    return Outcome(steps, checks, tables, examples(seen), facts)


def post_events(rng: random.Random, client: Api, campaign_id: str,
                seen: Observed) -> tuple[dict[str, set[str]], dict[str, float]]:  # fmt: skip
    """Opens for ~30% of recipients (at most 60: each event is a request), clicks for ~45% of openers,
    a purchase for ~30% of clickers."""
    recipients = sorted({d.device.device_id for d in seen.deliveries})
    opened = rng.sample(recipients, min(60, round(len(recipients) * 0.3)))
    clicked = [d for d in opened if rng.random() < 0.45]
    bought = {d: round(rng.uniform(19, 399), 2) for d in clicked if rng.random() < 0.3}
    repeats = opened[: max(1, len(opened) // 20)]  # a second open counts once
    events = ([(d, "open", None) for d in opened + repeats] + [(d, "click", None) for d in clicked]
              + [(d, "purchase", v) for d, v in bought.items()])  # fmt: skip

    def post(event: tuple[str, str, float | None]) -> None:
        device_id, name, value = event
        body: dict[str, Any] = {"device_id": device_id, "name": name, "campaign_id": campaign_id}
        if value is not None:
            body |= {"value": value, "currency": "USD"}
        client.call("POST", "/v1/events", body)

    run_pool("posting events", events, post)
    engaged = {"opened": set(opened), "clicked": set(clicked), "converted": set(bought)}
    return engaged, {"revenue": round(sum(bought.values()), 2)}


def read_back(client: Api, devices: list[Device]) -> dict[str, str]:
    """What the API now says about each device: active, invalid or gone."""
    states = {}
    for d in devices:
        r = client.http.get(f"/v1/devices/{d.device_id}", headers={"authorization": f"Bearer {client.key}"})
        states[d.device_id] = "gone" if r.status_code == 404 else str(r.json().get("status"))
    return states


def cross_check(campaign: dict[str, Any], devices: list[Device], seen: Observed, waves: list[dict[str, Any]],
                friday: date, readback: dict[str, str]) -> list[report.Check]:  # fmt: skip
    stats = campaign["stats"]
    checks = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(report.Check(name, ok, detail))

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
                      posted: dict[str, float]) -> list[report.Check]:  # fmt: skip
    checks = [report.Check(f"{stat} = distinct devices that posted it", stats.get(stat, 0) == len(devices),
                           f"stats {stats.get(stat, 0)}, posted {len(devices)}")
              for stat, devices in engaged.items()]  # fmt: skip
    revenue = float(stats.get("revenue", 0))
    checks.append(report.Check("revenue = sum of posted purchases", abs(revenue - posted["revenue"]) < 0.005,
                               f"stats {revenue:.2f}, posted {posted['revenue']:.2f}"))  # fmt: skip
    return checks


def summary_tables(campaign: dict[str, Any], devices: list[Device], seen: Observed, waves: list[dict[str, Any]],
                   zone_wave: dict[str, int], engaged: dict[str, set[str]],
                   posted: dict[str, float]) -> list[report.Table]:  # fmt: skip
    delivered = seen.delivered()

    def row(label: str, group: list[Device], *extra: Any) -> list[Any]:
        matched = [d for d in group if d.matches]
        sent = Counter(d.platform for d in matched if delivered[d.device_id])
        pruned = sum(1 for d in matched if is_gone(seen.refusals.get(d.device_id, [])))
        retried = sum(retries(seen.refusals.get(d.device_id, [])) for d in matched)
        failed = sum(1 for d in matched if d.deliverable and not delivered[d.device_id])
        return [label, *extra, len(matched), sum(1 for d in matched if not d.body["opted_in"]),
                sum(1 for d in matched if d.body["opted_in"] and d.quiet_at_send),
                *(sent[p] for p in PLATFORMS), sum(sent.values()), pruned, retried, failed]  # fmt: skip

    by_wave = defaultdict(list)
    for d in devices:
        by_wave[zone_wave[d.zone]].append(d)
    counts = ["targeted", "opted out", "deferred", "sent web", "sent ios", "sent android", "sent", "pruned",
              "retries", "failed"]  # fmt: skip
    wave_rows = [row(f"wave {i}", by_wave[i], f"{datetime.fromisoformat(w['send_at']):%a %H:%M}Z",
                     short_zones(w["time_zones"], 40)) for i, w in enumerate(waves, 1)]  # fmt: skip
    wave_rows.append(row("all waves", devices, "", ""))
    platform_rows = [row(p, [d for d in devices if d.platform == p]) for p in PLATFORMS]
    platform_rows.append(row("all platforms", devices))
    s = campaign["stats"]
    stats_row = ["campaign stats (API)", s.get("targeted"), (s.get("suppressed") or {}).get("opted_out"),
                 s.get("deferred", 0), "", "", "", s.get("sent"), s.get("pruned"), "", s.get("failed", 0)]  # fmt: skip
    platform_rows.append(stats_row)
    eng = [["campaign stats (API)", s.get("opened", 0), s.get("clicked", 0), s.get("converted", 0),
            float(s.get("revenue", 0))],
           ["posted by the demo", len(engaged["opened"]), len(engaged["clicked"]), len(engaged["converted"]),
            posted["revenue"]]]  # fmt: skip
    return [
        report.Table("Per wave (devices attributed to a wave by their time zone)",
                     ["wave", "UTC", "zones", *counts], wave_rows,
                     "targeted = matches the filter; sent/pruned/retries from what the stand-ins accepted and "
                     "refused; failed = expected but neither delivered nor pruned."),
        report.Table("Per platform, and the campaign's own stats", ["platform", *[c for c in counts
                     if not c.startswith("sent ")]], [r[:4] + r[7:] for r in platform_rows[:-1]]
                     + [stats_row[:4] + stats_row[7:]]),
        report.Table("Engagement (POST /v1/events with the client key)",
                     ["", "opened", "clicked", "converted", "revenue USD"], eng,
                     "each device counts once per stat (repeat opens were posted too); revenue adds every purchase."),
    ]  # fmt: skip


def examples(seen: Observed) -> list[report.Example]:
    """Nine notifications as shown: each language (platforms in turn), then a VIP, a device without a
    first name and one whose locale has no translation (pt-PT: English, pt-BR is never guessed)."""
    ordered = sorted(seen.deliveries, key=lambda x: x.device.device_id)

    def speaks(lang: str | None, platform: str) -> Callable[[Device], bool]:
        return lambda d: pick_copy(d.body["locale"]) == lang and d.platform == platform

    langs: list[str | None] = [None, "de", "fr", "pt-BR", "es", "ja"]
    wanted = [speaks(lang, PLATFORMS[i % 3]) for i, lang in enumerate(langs)]
    wanted += [
        lambda d: bool(d.body["tags"].get("vip")),
        lambda d: "first_name" not in d.body["attributes"],
        lambda d: d.body["locale"] == "pt-PT",
    ]
    chosen: list[Delivery] = []
    for want in wanted:
        found = next((x for x in ordered if want(x.device) and x not in chosen), None)
        if found is not None:
            chosen.append(found)
    return [report.Example(x.device.platform, x.device.device_id, x.device.body["locale"], x.device.zone,
                           x.title, x.body, x.url, x.image) for x in chosen]  # fmt: skip


def print_table(table: report.Table) -> None:
    cells = [
        [str(c) if not isinstance(c, float) else f"{c:,.2f}" for c in r] for r in [table.header, *table.rows]
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.header))]
    print(f"\n{table.caption}")
    for n, r in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 or (i < 3 and not c[:1].isdigit()) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))  # fmt: skip
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


if __name__ == "__main__":
    # Powertools warns on every invocation that publishes no metrics; it says nothing about the demo.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    sys.exit(main())
