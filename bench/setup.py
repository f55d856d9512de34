"""Per-channel fixtures: credentials registered with a stand-in and the devices to send to."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.standins import StandIn
from local.standins.apns import new_signing_key
from pushengine.providers.apns import ApnsCredentials, ApnsProvider
from pushengine.providers.base import PushProvider
from pushengine.providers.fcm import FcmProvider, parse_service_account
from pushengine.providers.webpush import WebPushProvider
from pushengine.webpush_keys import generate_vapid_keys

PLATFORM = {"web": "web", "fcm": "android", "apns": "ios"}
VAPID_SUBJECT = "mailto:bench@example.com"
BUNDLE_ID = "com.example.bench"
MAX_SUBSCRIPTIONS = 1000  # distinct browser subscriptions; larger runs reuse them in turn


@dataclass
class Fixture:
    channel: str  # web | fcm | apns
    standin: StandIn
    targets: list[Any]  # web: subscription dicts; fcm/apns: device tokens
    secret: dict[str, Any] = field(default_factory=dict)  # what the app stored for this channel

    @property
    def platform(self) -> str:
        return PLATFORM[self.channel]

    def provider(self, transport: Any = None) -> PushProvider:
        """The real adapter pointed at the stand-in, configured as ProviderPool.build_provider does;
        `transport` replaces the one it ships with (bench/transports.py: the stock contenders)."""
        base = self.standin.base_url
        if self.channel == "web":
            host = urlsplit(base).netloc
            return WebPushProvider(self.secret["private_key"], VAPID_SUBJECT, allowed_hosts=[host],
                                   transport=transport)  # fmt: skip
        if self.channel == "fcm":
            return FcmProvider(parse_service_account(self.secret), endpoint=base, transport=transport)
        credentials = ApnsCredentials(
            team_id=self.secret["team_id"], key_id=self.secret["key_id"], private_key=self.secret["private_key"],
            bundle_id=BUNDLE_ID, environment="production",
        )  # fmt: skip
        provider = ApnsProvider(credentials, endpoint=base)
        if transport is not None:  # no constructor option: swapped in where the adapter keeps its own
            provider._transport = transport
        return provider


def webpush_fixture(standin: StandIn, n: int) -> Fixture:
    private_pem, public_key = generate_vapid_keys()
    count = min(n, MAX_SUBSCRIPTIONS)
    with httpx.Client(base_url=standin.base_url, timeout=30) as client:

        def subscribe(_: int) -> dict[str, Any]:
            answer = client.post("/_standin/subscriptions", json={"application_server_key": public_key})
            answer.raise_for_status()
            return dict(answer.json())

        with ThreadPoolExecutor(8) as pool:
            subscriptions = list(pool.map(subscribe, range(count)))
    return Fixture("web", standin, subscriptions, {"private_key": private_pem, "public_key": public_key})


def fcm_fixture(standin: StandIn, n: int) -> Fixture:
    with httpx.Client(base_url=standin.base_url, timeout=30) as client:
        answer = client.post("/_standin/service-accounts", json={"project_id": "bench-project"})
        answer.raise_for_status()
        account = dict(answer.json())
    # the stand-in accepts any well-formed token in process mode; shaped like FCM's
    tokens = [
        f"{secrets.token_urlsafe(16)[:22]}:APA91b{secrets.token_urlsafe(105)}" for _ in range(min(n, 5000))
    ]
    return Fixture("fcm", standin, tokens, account)


def apns_fixture(standin: StandIn, n: int) -> Fixture:
    private_pem, public_pem = new_signing_key()
    secret = {"team_id": "BENCHTEAM1", "key_id": "BENCHKEY01", "private_key": private_pem}
    with httpx.Client(base_url=standin.base_url, timeout=30) as client:
        answer = client.post("/_standin/keys", json={
            "team_id": secret["team_id"], "key_id": secret["key_id"], "public_key_pem": public_pem,
            "topic": BUNDLE_ID,
        })  # fmt: skip
        answer.raise_for_status()
    tokens = [secrets.token_hex(32) for _ in range(min(n, 5000))]
    return Fixture("apns", standin, tokens, secret)
