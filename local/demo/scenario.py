"""The demo's story: a storefront's markets and copy, its audience with planted faults, the calls a customer
makes over the HTTP API, and the day played on the stack's driven clock."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local.demo import page
from local.standins.apns import ApnsStandIn
from local.standins.fcm import FcmStandIn
from local.standins.webpush import WebPushStandIn
from pushengine.identity import mint
from samlocal import LocalRuntime

ROOT = Path(__file__).resolve().parents[2]
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


# ---------- the API ----------
class Api:
    """The demo's client of the HTTP API. With `identity_secret` it acts as an app's client key does: a user
    token (minted as the app's backend would) for the user a body names, and each device's own secret."""

    def __init__(self, http: httpx.Client, key: str, identity_secret: str | None = None) -> None:
        self.http, self.key, self.identity_secret = http, key, identity_secret
        self.device_secrets: dict[str, str] = {}

    def call(self, method: str, path: str, body: Any = None, expect: Iterable[int] = (200, 201, 202)) -> Any:
        named = body if isinstance(body, dict) else {}
        device_id = path.split("/")[3] if path.startswith("/v1/devices/") else named.get("device_id")
        headers = {"authorization": f"Bearer {self.key}", **self.proofs(device_id, named.get("user_id"))}
        r = self.http.request(method, path, json=body, headers=headers)
        if r.status_code not in tuple(expect):
            raise SystemExit(f"demo: {method} {path} answered {r.status_code}: {r.text[:500]}")
        answer = r.json() if r.content else None
        if isinstance(device_id, str) and isinstance(answer, dict) and answer.get("device_secret"):
            self.device_secrets[device_id] = str(answer["device_secret"])
        return answer

    def proofs(self, device_id: Any, user_id: Any) -> dict[str, str]:
        """What a client key shows for the device and the user a request names (none for a server key)."""
        headers = {}
        if self.identity_secret is not None and isinstance(user_id, str):
            headers["x-user-token"] = mint(self.identity_secret, user_id)
        if isinstance(device_id, str) and device_id in self.device_secrets:
            headers["x-device-secret"] = self.device_secrets[device_id]
        return headers


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
    server = Api(http, created["server_key"])
    client = Api(http, created["client_key"], identity_secret=created["identity_secret"])
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


# ---------- the day ----------
def next_friday(today: date) -> date:
    """The next Friday at least two days ahead, so 09:00 has not passed anywhere (Kiritimati is +14)."""
    days = (4 - today.weekday()) % 7
    return today + timedelta(days=days + 7 if days < 2 else days)


def wave_of(zone_waves: list[dict[str, Any]]) -> dict[str, int]:
    return {z: i for i, w in enumerate(zone_waves, 1) for z in w["time_zones"]}


def short_zones(zones: list[str], width: int = 46) -> str:
    text = ", ".join(z.split("/")[-1] for z in zones)
    return text if len(text) <= width else text[: width - 1] + "…"


def launch(server: Api, today: date) -> tuple[date, str, list[dict[str, Any]]]:
    """Create the campaign for the next Friday: (that Friday, campaign id, waves by send time)."""
    friday = next_friday(today)
    created = server.call("POST", "/v1/campaigns", campaign_body(friday))
    campaign_id = created["campaign_id"]
    waves = sorted(created["waves"], key=lambda w: w["send_at"])
    print(f"campaign {campaign_id}: 09:00 local on {friday:%a %d %b %Y} in {len(wave_of(waves))} zones "
          f"-> {len(waves)} waves")  # fmt: skip
    return friday, campaign_id, waves


def play_day(stack: LocalRuntime, waves: list[dict[str, Any]],
             delivered_so_far: Callable[[], Counter[str]]) -> tuple[list[page.Step], float]:  # fmt: skip
    """Play the day: jump the clock to each due schedule, fire it, drain the queues and count what arrived
    (`delivered_so_far`: messages accepted so far, by platform), a line per step. Returns the steps and the
    seconds the day took."""
    steps: list[page.Step] = []
    before: Counter[str] = Counter()
    play_started, idle = time.monotonic(), 0
    while (due := stack.next_schedule_due()) is not None and len(steps) < 200:
        step_started = time.monotonic()
        stack.clock.set(due)
        fired = stack.fire_due_schedules()
        stack.drain(timeout=300)
        now_count = delivered_so_far()
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
        steps.append(page.Step(due, label, zones, delivered, time.monotonic() - step_started))
        print(f"  {due:%a %H:%M}Z  {label:<30} {short_zones(zones):<46} "
              + "  ".join(f"{p} {delivered[p]:>4}" for p in PLATFORMS)
              + f"  ({time.monotonic() - step_started:.1f}s)")  # fmt: skip
    print(f"  ... and {idle} waves for zones without devices (the engine plans every IANA zone)")
    play_s = time.monotonic() - play_started
    return steps, play_s


def post_events(rng: random.Random, client: Api, campaign_id: str,
                recipients: list[str]) -> tuple[dict[str, set[str]], dict[str, float]]:  # fmt: skip
    """Opens for ~30% of recipients (sorted device ids; at most 60: each event is a request), clicks for ~45%
    of openers, a purchase for ~30% of clickers."""
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
        headers = {"authorization": f"Bearer {client.key}", **client.proofs(d.device_id, None)}
        r = client.http.get(f"/v1/devices/{d.device_id}", headers=headers)
        states[d.device_id] = "gone" if r.status_code == 404 else str(r.json().get("status"))
    return states
