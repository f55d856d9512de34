"""The channel registry (pushengine.channels): each channel is one record, and the generic path reads it.

A channel registered here and nowhere else (`PIGEON`, addressed by a token under its own batch-entry key)
is registered, fanned out, paced and given credentials without another file knowing its name."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pushengine import channels, pacing, registry
from pushengine.channels import BY_SERVICE, CHANNELS, SHAPES
from pushengine.channels.base import Channel, Credentials, token_address
from pushengine.compose import Composer
from pushengine.config import Settings
from pushengine.delivery.provider_pool import ProviderPool
from pushengine.delivery.segment import device_entry
from pushengine.errors import NotFound
from pushengine.models import CampaignSpec, DeviceIn
from pushengine.payloads import apns as apns_payload
from pushengine.payloads import webpush as webpush_payload
from pushengine.providers.base import Outcome, SendResult
from pushengine.routes.devices import PROVIDER_PATTERN

pytestmark = pytest.mark.unit

APP = "app_0123456789abcdef"


def test_the_three_channels_are_registered_under_their_platform_and_service() -> None:
    assert [(c.platform, c.service, c.address_field, c.entry_key) for c in CHANNELS.values()] == [
        ("ios", "apns", "token", "t"),
        ("android", "fcm", "token", "t"),
        ("web", "webpush", "subscription", "s"),
    ]
    assert list(BY_SERVICE) == ["apns", "fcm", "webpush"]
    assert PROVIDER_PATTERN == "^(apns|fcm|webpush)$"
    assert DeviceIn.model_json_schema()["properties"]["platform"]["enum"] == ["ios", "android", "web"]
    assert [(s.service, s.limit) for s in SHAPES] == [
        ("apns", 4096), ("fcm", 4096), ("webpush", 3993), ("webpush", 3993)
    ]  # fmt: skip
    assert SHAPES[-1] is webpush_payload.DECLARATIVE
    assert pacing.DEFAULT_PER_MINUTE == {"apns": None, "fcm": 600_000, "webpush": None}
    assert [c.platform for c in CHANNELS.values() if c.live_activities] == ["ios"]


@pytest.mark.parametrize("channel", list(CHANNELS.values()), ids=list(CHANNELS))
def test_each_channels_stand_in_is_the_local_service_of_its_name(channel: Channel) -> None:
    module_name, _, class_name = channel.standin.partition(":")
    assert module_name == f"local.standins.{channel.service}"
    standin = getattr(importlib.import_module(module_name), class_name)
    assert inspect.isclass(standin)


APPLE = {"endpoint": "https://web.push.apple.com/QGuQyavXutnMH", "keys": {}}
MOZILLA = {"endpoint": "https://updates.push.services.mozilla.com/wpush/v2/x", "keys": {}}


def test_a_web_subscription_on_apples_push_service_gets_the_declarative_shape() -> None:
    web = CHANNELS["web"]
    assert web.shape_for(APPLE) is webpush_payload.DECLARATIVE
    assert web.shape_for(MOZILLA) is web.shape_for(None) is webpush_payload.PLATFORM
    assert CHANNELS["ios"].shape_for(APPLE) is apns_payload.PLATFORM  # only the web channel has variants


FCM_GONE = {"error": {"status": "UNREGISTERED", "message": "Requested entity was not found."}}
FCM_OTHER_PROJECT = {"error": {"status": "SENDER_ID_MISMATCH"}}
FCM_BAD_TOKEN = {"error": {"status": "INVALID_ARGUMENT", "message": "The registration token is not a valid FCM registration token"}}  # fmt: skip  # noqa: E501
FCM_BAD_TTL = {"error": {"status": "INVALID_ARGUMENT", "message": "Invalid value at 'message.android.ttl'"}}


@pytest.mark.parametrize(
    ("platform", "answer", "outcome"),
    [
        ("ios", (200, ""), Outcome.SENT),
        ("ios", (410, "Unregistered"), Outcome.PRUNED),
        ("ios", (400, "BadDeviceToken"), Outcome.PRUNED),
        ("ios", (400, "BadCollapseId"), Outcome.FAILED),
        ("ios", (429, "TooManyRequests"), Outcome.RETRY),
        ("android", (200, {}, None), Outcome.SENT),
        ("android", (404, FCM_GONE, None), Outcome.PRUNED),
        ("android", (403, FCM_OTHER_PROJECT, None), Outcome.PRUNED),
        ("android", (400, FCM_BAD_TOKEN, None), Outcome.PRUNED),
        ("android", (400, FCM_BAD_TTL, None), Outcome.FAILED),
        ("android", (503, {"error": {"status": "UNAVAILABLE"}}, None), Outcome.RETRY),
        ("web", (201, ""), Outcome.SENT),
        ("web", (404, "not found"), Outcome.PRUNED),
        ("web", (410, "gone"), Outcome.PRUNED),
        ("web", (413, "too large"), Outcome.FAILED),
        ("web", (429, "slow down", 30.0), Outcome.RETRY),
    ],
)
def test_each_channel_says_which_answers_prune_the_device(
    platform: str, answer: tuple[Any, ...], outcome: Outcome
) -> None:
    assert CHANNELS[platform].classify(*answer).outcome is outcome


def test_the_web_channels_retry_carries_the_wait_the_service_asked_for() -> None:
    assert CHANNELS["web"].classify(429, "slow down", 30.0) == SendResult(
        Outcome.RETRY, 429, "slow down", 30.0
    )


# a channel that exists only here: its address is a token, carried in a batch entry under "x"
class PigeonProvider:
    async def send(self, notification: Any) -> SendResult:
        return SendResult(Outcome.SENT, 200)

    async def aclose(self) -> None:
        return None


BUILT: list[tuple[dict[str, Any], int]] = []


def pigeon_provider(secret: dict[str, Any], settings: Settings, tokens: Any) -> Any:
    BUILT.append((secret, settings.send_concurrency))
    return PigeonProvider()


def pigeon_credentials(body: dict[str, Any], settings: Settings) -> Credentials:
    return Credentials({"loft": body["loft"]}, {"loft": body["loft"]}, public_key=f"pk-{body['loft']}")


PIGEON = Channel(
    platform="pigeon", service="coop", address_field="token", entry_key="x",
    check_address=token_address("pigeon", r"leg-[0-9]+", "a pigeon's ring is leg-<n>"),
    shape=apns_payload.PLATFORM, credentials=pigeon_credentials, provider=pigeon_provider,
    classify=lambda status, reason: SendResult(Outcome.PRUNED if status == 404 else Outcome.SENT, status),
    quota_scope=lambda app_id, meta, entry: f"coop:{meta['loft']}", quota_per_minute=None,
    standin="local.standins.apns:ApnsStandIn", adapter=__name__,
)  # fmt: skip


@pytest.fixture
def pigeon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    monkeypatch.setitem(CHANNELS, PIGEON.platform, PIGEON)
    monkeypatch.setitem(BY_SERVICE, PIGEON.service, PIGEON)
    BUILT.clear()
    yield PIGEON


def test_a_device_address_travels_under_its_channels_batch_entry_key_to_its_notification(
    pigeon: Channel,
) -> None:
    item = {"device_id": "d1", "platform": "pigeon", "token": "leg-7", "locale": "en"}
    entry = device_entry(item, "A")
    assert entry["x"] == "leg-7"
    assert "t" not in entry and "s" not in entry
    web = device_entry({"device_id": "d2", "platform": "web", "subscription": MOZILLA}, "A")
    ios = device_entry({"device_id": "d3", "platform": "ios", "token": "ab" * 32}, "A")
    assert (web["s"], ios["t"]) == (MOZILLA, "ab" * 32)
    composer = Composer(
        "cmp_1", CampaignSpec.model_validate({"name": "c", "message": {"title": "T", "body": "B"}})
    )
    sent = composer.notification(entry)  # the address reaches the provider under the channel's field
    assert (sent.token, sent.subscription, sent.payload["aps"]["alert"]["title"]) == ("leg-7", None, "T")
    assert (composer.notification(web).subscription, composer.notification(ios).token) == (MOZILLA, "ab" * 32)


def test_a_channels_address_check_is_the_one_device_registration_runs(pigeon: Channel) -> None:
    PIGEON.check_address({"token": "leg-7", "subscription": None})
    with pytest.raises(ValueError, match="token: a pigeon's ring is leg-<n>"):
        PIGEON.check_address({"token": "wing-7", "subscription": None})
    with pytest.raises(ValueError, match="subscription: only for platform web, not pigeon"):
        PIGEON.check_address({"token": "leg-7", "subscription": MOZILLA})


class Apps:
    def __init__(self, providers: Mapping[str, Any]) -> None:
        self.item = {"app_id": APP, "providers": dict(providers)}
        self.set: list[tuple[str, str, dict[str, Any]]] = []

    def get(self, app_id: str) -> dict[str, Any] | None:
        return self.item if app_id == APP else None

    def set_provider(self, app_id: str, provider: str, meta: dict[str, Any]) -> None:
        self.set.append((app_id, provider, meta))


class Secrets:
    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}

    def put(self, name: str, secret: dict[str, Any]) -> str:
        self.stored[name] = secret
        return f"arn:{name}"

    def get(self, arn: str, version: str = "") -> dict[str, Any]:
        return self.stored[arn.removeprefix("arn:")]


def test_a_channels_credentials_are_read_and_stored_under_its_service(pigeon: Channel) -> None:
    apps, secrets = Apps({}), Secrets()
    out = registry.put_provider(apps, secrets, APP, "coop", {"loft": "north", "quota_per_minute": 6000})  # type: ignore[arg-type]
    assert out.model_dump() == {"provider": "coop", "configured": True, "public_key": "pk-north"}
    assert apps.set == [(APP, "coop", {"loft": "north", "quota_per_minute": 6000, "secret_arn": "arn:app_0123456789abcdef/coop"})]  # fmt: skip  # noqa: E501
    assert secrets.stored == {f"{APP}/coop": {"loft": "north"}}


def test_an_unknown_provider_names_the_registered_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    def refusal() -> NotFound:
        with pytest.raises(NotFound) as raised:
            registry.put_provider(Apps({}), Secrets(), APP, "carrier", {})  # type: ignore[arg-type]
        assert raised.value.field == "provider"
        return raised.value

    assert str(refusal()) == "unknown provider 'carrier': use apns, fcm or webpush"
    monkeypatch.setitem(BY_SERVICE, PIGEON.service, PIGEON)
    assert str(refusal()) == "unknown provider 'carrier': use apns, fcm, webpush or coop"


class Tokens:
    def get(self, key: str) -> None:
        return None


def test_a_channels_client_and_quota_lane_come_from_its_record(pigeon: Channel) -> None:
    asyncio.run(client_and_lane())


async def client_and_lane() -> None:
    secrets = Secrets()
    secrets.put(f"{APP}/coop", {"loft": "north"})
    apps = Apps({"coop": {"loft": "north", "quota_per_minute": 6000, "secret_arn": f"arn:{APP}/coop"}})
    pool = ProviderPool(Settings(send_concurrency=7), apps, secrets, tokens=Tokens())  # type: ignore[arg-type]
    provider = await pool.get(APP, "pigeon")
    assert isinstance(provider, PigeonProvider)
    assert BUILT == [({"loft": "north"}, 7)]
    lane = pool.lane(APP, {"id": "d1", "p": "pigeon", "x": "leg-7"}, transactional=False)
    assert lane == pacing.Lane("coop:north", "campaign", 6000 * pacing.CAMPAIGN_SHARE)
    assert pool.lane(APP, {"id": "d1", "p": "pigeon", "x": "leg-7"}, transactional=True) == pacing.Lane(
        "coop:north", "transactional", pytest.approx(6000 * (1 - pacing.CAMPAIGN_SHARE))
    )
    await pool.aclose()


def test_the_records_are_immutable_and_name_every_address_field() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CHANNELS["ios"].service = "x"  # type: ignore[misc]
    assert channels.ADDRESS_FIELDS == ("token", "subscription")


# one fresh interpreter: what the modules that check devices load, then what the sender's pool adds
LOADED = """
import sys
from pushengine.channels import CHANNELS
def loaded():
    return [c.adapter in sys.modules for c in CHANNELS.values()], "httpx" in sys.modules, "h2" in sys.modules
import pushengine.models, pushengine.registry, pushengine.delivery.segment, pushengine.compose
print(loaded())
import pushengine.delivery.provider_pool
print(loaded())
"""


def test_the_provider_adapters_load_with_the_sender_and_not_where_devices_are_checked() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'layers' / 'shared'}{os.pathsep}{root}"}
    run = subprocess.run([sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == [
        "([False, False, False], False, False)",  # registration, fan-out, composition: no adapter, no httpx
        "([True, True, True], True, True)",  # the sender's cold start loads them all, not its first send
    ]
