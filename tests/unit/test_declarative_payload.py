"""Declarative Web Push (pushengine.payloads.webpush): which subscriptions get it, and the exact message.

The shape is WebKit's (Safari 18.4+, WebCore NotificationJSONParser): `web_push` 8030, a `notification` with
a non-empty `title` and a valid `navigate` URL, optional `body`, `lang`, `dir`, `tag`, `icon`, `silent`,
`data`, `app_badge` and `mutable`."""

from __future__ import annotations

from typing import Any

import pytest

from pushengine.compose import Composer, PayloadTooLarge, check_sizes
from pushengine.content import Action, Message, RenderedMessage, WebOptions
from pushengine.models import CampaignSpec
from pushengine.payloads import BY_DEVICE_PLATFORM, shape_for, webpush
from pushengine.payloads.base import collapse_id

pytestmark = pytest.mark.unit

CID = "cmp_01HZX"
URL = "https://shop.example.com/sale"
IMG = "https://cdn.example.com/sale.png"
ICON = "https://cdn.example.com/icon.png"
APPLE = "https://web.push.apple.com/QGuQyavXutnMH"


@pytest.mark.parametrize(
    ("endpoint", "declarative"),
    [
        (APPLE, True),
        ("https://web.push.apple.com:443/x", True),
        ("https://WEB.Push.Apple.com/x", True),
        ("https://push.apple.com/x", False),  # the bare domain is no push service
        ("https://evilpush.apple.com.attacker.io/x", False),
        ("https://web.push.apple.com.attacker.io/x", False),
        ("http://web.push.apple.com/x", False),
        ("https://fcm.googleapis.com/fcm/send/abc", False),
        ("https://updates.push.services.mozilla.com/wpush/v2/x", False),
        ("not a url", False),
        ("https://[::1/x", False),
        ("https://user@web.push.apple.com/x", False),  # user info: refused by the allow-list anyway
        ("https://web.push.apple.com", True),
        ("https://web.push.apple.com?x=1", True),
        ("https://web.push.apple.com.:443/x", False),
        ("ftp://web.push.apple.com/x", False),
        (None, False),
    ],
)
def test_only_apples_push_service_gets_the_declarative_message(endpoint: Any, declarative: bool) -> None:
    assert webpush.is_declarative_endpoint(endpoint) is declarative
    shape = shape_for("web", {"endpoint": endpoint, "keys": {}})
    assert shape is (webpush.DECLARATIVE if declarative else webpush.PLATFORM)


def test_other_platforms_keep_their_own_shape() -> None:
    for platform in ("ios", "android"):  # a stray subscription field changes nothing for them
        assert shape_for(platform, {"endpoint": APPLE}) is BY_DEVICE_PLATFORM[platform]
    assert shape_for("web", None) is shape_for("web", {}) is webpush.PLATFORM


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (  # the least: title, body, the url to open, the collapse tag and the engine's fields in data
            RenderedMessage("T", "B", url=URL),
            {"web_push": 8030, "notification": {
                "title": "T", "body": "B", "navigate": URL, "tag": "tag1",
                "data": {"campaign_id": CID}, "mutable": True}},
        ),
        (  # every optional member
            RenderedMessage(
                "T", "B", url=URL, image_url=IMG, data={"sku": "A-1", "qty": 2}, badge=3, lang="de-DE",
                web=WebOptions(icon=ICON, badge=ICON, silent=True, require_interaction=True, renotify=True),
            ),
            {"web_push": 8030, "notification": {
                "title": "T", "body": "B", "navigate": URL, "lang": "de-DE", "dir": "ltr", "silent": True,
                "app_badge": 3, "icon": ICON, "image": IMG, "badge": ICON, "requireInteraction": True,
                "renotify": True, "tag": "tag1",
                "data": {"campaign_id": CID, "data": {"sku": "A-1", "qty": 2}}, "mutable": True}},
        ),
        (  # a right-to-left language says so; a badge of 0 clears the app badge
            RenderedMessage("عرض", "خصم", url=URL, lang="ar", badge=0),
            {"web_push": 8030, "notification": {
                "title": "عرض", "body": "خصم", "navigate": URL, "lang": "ar", "dir": "rtl",
                "app_badge": 0, "tag": "tag1", "data": {"campaign_id": CID}, "mutable": True}},
        ),
        (  # buttons: each opens its own https url, or the message's; the worker reads them from data
            RenderedMessage("T", "B", url=URL, actions=(
                Action(id="buy", title="Buy", url="https://shop.example.com/cart"),
                Action(id="later", title="Later"), Action(id="app", title="App", url="myapp://cart"))),
            {"web_push": 8030, "notification": {
                "title": "T", "body": "B", "navigate": URL, "tag": "tag1",
                "actions": [
                    {"action": "buy", "title": "Buy", "navigate": "https://shop.example.com/cart"},
                    {"action": "later", "title": "Later", "navigate": URL},
                    {"action": "app", "title": "App", "navigate": URL}],
                "data": {"campaign_id": CID, "actions": [
                    {"id": "buy", "title": "Buy", "url": "https://shop.example.com/cart"},
                    {"id": "later", "title": "Later"}, {"id": "app", "title": "App", "url": "myapp://cart"}]},
                "mutable": True}},
        ),
        (  # no url on the message: its first https button's url is where a tap goes
            RenderedMessage("T", "B", actions=(
                Action(id="app", title="App", url="myapp://x"),
                Action(id="buy", title="Buy", url="https://shop.example.com/cart"))),
            {"web_push": 8030, "notification": {
                "title": "T", "body": "B", "navigate": "https://shop.example.com/cart", "tag": "tag1",
                "actions": [{"action": "app", "title": "App", "navigate": "https://shop.example.com/cart"},
                            {"action": "buy", "title": "Buy", "navigate": "https://shop.example.com/cart"}],
                "data": {"campaign_id": CID, "actions": [
                    {"id": "app", "title": "App", "url": "myapp://x"},
                    {"id": "buy", "title": "Buy", "url": "https://shop.example.com/cart"}]},
                "mutable": True}},
        ),
    ],
)  # fmt: skip
def test_declarative_payload(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    assert webpush.declarative_payload(rendered, CID, "tag1") == expected


@pytest.mark.parametrize(
    "rendered",
    [
        RenderedMessage("T", "B"),  # no url: nothing a browser could open by itself
        RenderedMessage("T", "B", url="myapp://sale"),  # an app link is no https URL
        RenderedMessage("", "B", url=URL),  # WebKit drops a declarative message with an empty title
        RenderedMessage("", "", data={"cart": "refresh"}, content_available=True),  # data-only: nothing shown
    ],
)
def test_what_cannot_be_declarative_goes_in_the_service_workers_shape(rendered: RenderedMessage) -> None:
    assert webpush.declarative_payload(rendered, CID, "tag1") == webpush.payload(rendered, CID, "tag1")


def test_a_journeys_fields_reach_the_shown_notifications_data() -> None:
    spec = CampaignSpec.model_validate({
        "name": "j", "message": {"title": "T", "body": "B", "url": URL},
        "journey": {"journey_id": "jrn_1", "step": "remind"},
    })  # fmt: skip
    composer = Composer(CID, spec)
    declarative = composer.notification({"p": "web", "s": {"endpoint": APPLE}, "c": {}}).payload
    assert declarative["notification"]["data"] == {"campaign_id": CID, "journey_id": "jrn_1", "step": "remind"}
    assert set(declarative) == {"web_push", "notification"}
    classic = composer.notification({"p": "web", "s": {"endpoint": "https://fcm.googleapis.com/x"}, "c": {}})
    assert (classic.payload["journey_id"], classic.payload["campaign_id"]) == ("jrn_1", CID)
    android = composer.notification({"p": "android", "t": "tok", "c": {}}).payload
    assert android["data"]["journey_id"] == "jrn_1" and "journey_id" not in android


def test_composer_picks_the_shape_per_subscription_and_tags_with_the_collapse_id() -> None:
    spec = CampaignSpec.model_validate({"name": "c", "message": {
        "title": "Hallo", "body": "B", "url": URL, "localizations": {"de": {"title": "Hallo {{ locale }}"}}}})
    composer = Composer(CID, spec)
    apple = composer.notification({"p": "web", "s": {"endpoint": APPLE}, "c": {"locale": "de-AT"}}).payload
    assert apple["notification"]["title"] == "Hallo de-AT" and apple["notification"]["lang"] == "de"
    assert apple["notification"]["tag"] == collapse_id(CID)
    other = composer.notification({"p": "web", "s": {"endpoint": "https://fcm.googleapis.com/x"}, "c": {}})
    assert other.payload["title"] == "Hallo" and "web_push" not in other.payload


def test_the_worst_case_size_check_covers_the_declarative_shape() -> None:
    # fits the engine's own shape but not the declarative one, which carries each button twice
    title, body = "t" * 200, "b" * 200
    actions = [{"id": f"a{i}", "title": "x" * 64, "url": "https://e.example/" + "p" * 900} for i in range(3)]
    message = Message.model_validate({"title": title, "body": body, "url": URL, "actions": actions})
    rendered = RenderedMessage(title, body, URL, actions=tuple(message.actions or ()))
    assert webpush.PLATFORM.wire_size(webpush.payload(rendered, CID, collapse_id(CID))) < webpush.MAX_PLAINTEXT_BYTES
    with pytest.raises(PayloadTooLarge) as raised:
        check_sizes(message, CID)
    assert raised.value.platform == "webpush" and raised.value.size > webpush.MAX_PLAINTEXT_BYTES
