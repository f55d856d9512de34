"""Rich fields on every platform: input -> exact payload, one table per platform, and the Message contract."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pushengine.compose import PayloadTooLarge, check_sizes
from pushengine.content import Action, AndroidOptions, IosOptions, Message, RenderedMessage, WebOptions
from pushengine.payloads import apns, fcm, webpush
from pushengine.providers.apns import push_type

pytestmark = pytest.mark.unit

CID = "cmp_rich"
IMG = "https://cdn.example.com/sale.png"
BUY = Action(id="buy", title="Buy now", url="https://shop.example.com/cart")
LATER = Action(id="later", title="Later")
ACTIONS_JSON = [{"id": "buy", "title": "Buy now", "url": "https://shop.example.com/cart"},
                {"id": "later", "title": "Later"}]  # fmt: skip
DATA_ONLY = RenderedMessage("", "", data={"cart": "refresh", "n": 3}, content_available=True)


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (  # every ios field
            RenderedMessage("T", "B", ios=IosOptions(category="SALE", thread_id="sales", subtitle="Today only",
                                                     interruption_level="time-sensitive", relevance_score=0.8)),
            {"aps": {"alert": {"title": "T", "subtitle": "Today only", "body": "B"}, "category": "SALE",
                     "thread-id": "sales", "interruption-level": "time-sensitive", "relevance-score": 0.8},
             "campaign_id": CID},
        ),
        (  # buttons without a category: one derived from the ids, the extension registers it from "actions"
            RenderedMessage("T", "B", actions=(BUY, LATER)),
            {"aps": {"alert": {"title": "T", "body": "B"}, "mutable-content": 1, "category": "pe.buy.later"},
             "campaign_id": CID, "actions": ACTIONS_JSON},
        ),
        (  # buttons with the app's own category: no extension needed
            RenderedMessage("T", "B", actions=(BUY,), ios=IosOptions(category="SALE")),
            {"aps": {"alert": {"title": "T", "body": "B"}, "category": "SALE"}, "campaign_id": CID,
             "actions": [ACTIONS_JSON[0]]},
        ),
        (RenderedMessage("T", "B", ios=IosOptions(interruption_level="passive", relevance_score=0.0)),
         {"aps": {"alert": {"title": "T", "body": "B"}, "interruption-level": "passive", "relevance-score": 0.0},
          "campaign_id": CID}),
        (  # background push: content-available, nothing shown
            DATA_ONLY,
            {"aps": {"content-available": 1}, "campaign_id": CID, "data": {"cart": "refresh", "n": 3}},
        ),
        (RenderedMessage("", "", content_available=True), {"aps": {"content-available": 1}, "campaign_id": CID}),
        (  # android and web options leave APNs alone
            RenderedMessage("T", "B", android=AndroidOptions(color="#FF5722"), web=WebOptions(renotify=True)),
            {"aps": {"alert": {"title": "T", "body": "B"}}, "campaign_id": CID},
        ),
    ],
)  # fmt: skip
def test_apns_rich_payload(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    assert apns.payload(rendered, CID) == expected


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (  # every android field
            RenderedMessage("T", "B", android=AndroidOptions(channel_id="sales", priority="high", color="#FF5722",
                                                             icon="ic_sale", tag="sale", sticky=True,
                                                             click_action="OPEN_SALE")),
            {"notification": {"title": "T", "body": "B"}, "data": {"campaign_id": CID},
             "android": {"priority": "HIGH", "notification": {"channel_id": "sales", "color": "#FF5722",
                                                              "icon": "ic_sale", "tag": "sale", "sticky": True,
                                                              "click_action": "OPEN_SALE"}}},
        ),
        (RenderedMessage("T", "B", android=AndroidOptions(priority="normal", sticky=False), sound="x", badge=1),
         {"notification": {"title": "T", "body": "B"}, "data": {"campaign_id": CID},
          "android": {"priority": "NORMAL", "notification": {"sticky": False, "sound": "x",
                                                             "notification_count": 1}}}),
        (  # buttons travel as JSON text in data: the app builds them
            RenderedMessage("T", "B", url="myapp://sale", actions=(BUY, LATER)),
            {"notification": {"title": "T", "body": "B"},
             "data": {"campaign_id": CID, "url": "myapp://sale",
                      "actions": '[{"id":"buy","title":"Buy now","url":"https://shop.example.com/cart"},'
                                 '{"id":"later","title":"Later"}]'}},
        ),
        (  # data-only: no notification, data as strings
            DATA_ONLY,
            {"data": {"cart": "refresh", "n": "3", "campaign_id": CID}},
        ),
        (RenderedMessage("", "", content_available=True, android=AndroidOptions(priority="high")),
         {"data": {"campaign_id": CID}, "android": {"priority": "HIGH"}}),
        (RenderedMessage("T", "B", ios=IosOptions(subtitle="s"), web=WebOptions(icon=IMG)),
         {"notification": {"title": "T", "body": "B"}, "data": {"campaign_id": CID}}),
    ],
)  # fmt: skip
def test_fcm_rich_message(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    assert fcm.message(rendered, CID) == expected


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (  # every web field
            RenderedMessage("T", "B", url="https://shop.example.com/sale", image_url=IMG, data={"k": 1},
                            actions=(BUY, LATER),
                            web=WebOptions(icon="https://cdn.example.com/i.png", badge="https://cdn.example.com/b.png",
                                           require_interaction=True, renotify=True, silent=False)),
            {"title": "T", "body": "B", "icon": "https://cdn.example.com/i.png", "image": IMG,
             "badge": "https://cdn.example.com/b.png", "url": "https://shop.example.com/sale", "data": {"k": 1},
             "actions": ACTIONS_JSON, "campaign_id": CID, "tag": "tag1", "require_interaction": True,
             "renotify": True, "silent": False},
        ),
        (RenderedMessage("T", "B", web=WebOptions(silent=True)),
         {"title": "T", "body": "B", "campaign_id": CID, "tag": "tag1", "silent": True}),
        (  # data-only: the worker shows nothing
            DATA_ONLY,
            {"data_only": True, "data": {"cart": "refresh", "n": 3}, "campaign_id": CID},
        ),
        (RenderedMessage("", "", content_available=True), {"data_only": True, "campaign_id": CID}),
    ],
)  # fmt: skip
def test_webpush_rich_payload(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    assert webpush.payload(rendered, CID, "tag1") == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"aps": {"content-available": 1}}, "background"),
        ({"aps": {"content-available": 1}, "data": {"k": 1}}, "background"),
        ({"aps": {"content-available": 1, "alert": {"title": "t"}}}, "alert"),
        ({"aps": {"content-available": 1, "badge": 1}}, "alert"),
        ({"aps": {"alert": {"title": "t"}}}, "alert"),
        ({"aps": {}}, "alert"),
    ],
)
def test_apns_push_type_follows_the_payload(payload: dict[str, Any], expected: str) -> None:
    assert push_type(payload) == expected


# ---------- the Message contract ----------
@pytest.mark.parametrize(
    "fields",
    [
        {"actions": [{"id": "buy", "title": "Buy"}, {"id": "later", "title": "Later", "url": "myapp://x"},
                     {"id": "no", "title": "No"}]},
        {"ios": {"category": "SALE", "thread_id": "sales", "interruption_level": "critical",
                 "relevance_score": 1, "subtitle": "s"}},
        {"android": {"channel_id": "sales", "priority": "high", "color": "#ff5722", "icon": "ic_sale",
                     "tag": "t", "sticky": False, "click_action": "OPEN"}},
        {"web": {"icon": IMG, "badge": IMG, "require_interaction": True, "renotify": False, "silent": True}},
    ],
)  # fmt: skip
def test_rich_message_accepts(fields: dict[str, Any]) -> None:
    Message.model_validate({"title": "t", "body": "b"} | fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"content_available": True},
        {"content_available": True, "data": {"k": "v"}},
        {"content_available": True, "android": {"priority": "high"}},
    ],
)
def test_data_only_message_accepts(fields: dict[str, Any]) -> None:
    Message.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "loc", "reason"),
    [
        ({"actions": []}, ("actions",), "at least 1"),
        ({"actions": [{"id": f"a{i}", "title": "x"} for i in range(4)]}, ("actions",), "at most 3"),
        ({"actions": [{"id": "a", "title": "x"}, {"id": "a", "title": "y"}]}, (), "actions: each action"),
        ({"actions": [{"id": "bad id", "title": "x"}]}, ("actions", 0, "id"), "pattern"),
        ({"actions": [{"id": "a", "title": ""}]}, ("actions", 0, "title"), "at least 1"),
        ({"actions": [{"id": "a", "title": "x", "url": "javascript:alert(1)"}]}, ("actions", 0, "url"), "https"),
        ({"ios": {"interruption_level": "urgent"}}, ("ios", "interruption_level"), "passive"),
        ({"ios": {"relevance_score": 1.5}}, ("ios", "relevance_score"), "less than or equal to 1"),
        ({"ios": {"relevance_score": -0.1}}, ("ios", "relevance_score"), "greater than or equal to 0"),
        ({"ios": {"relevance_score": "0.5"}}, ("ios", "relevance_score"), "number"),
        ({"ios": {"badge": 1}}, ("ios", "badge"), "Extra inputs"),
        ({"android": {"color": "red"}}, ("android", "color"), "pattern"),
        ({"android": {"color": "#FF572"}}, ("android", "color"), "pattern"),
        ({"android": {"priority": "max"}}, ("android", "priority"), "'high' or 'normal'"),
        ({"android": {"icon": "Icon-Sale"}}, ("android", "icon"), "pattern"),
        ({"android": {"sticky": "yes"}}, ("android", "sticky"), "boolean"),
        ({"web": {"icon": "http://cdn.example.com/i.png"}}, ("web", "icon"), "https"),
        ({"web": {"require_interaction": 1}}, ("web", "require_interaction"), "boolean"),
        ({"content_available": True, "title": "t"}, (), "title: a data-only message"),
        ({"content_available": True, "actions": [{"id": "a", "title": "x"}]}, (), "actions: a data-only"),
        ({"content_available": True, "android": {"color": "#FFFFFF"}}, (), "android.color: a data-only"),
        ({"content_available": True, "ios": {"thread_id": "t"}}, (), "ios: a data-only"),
        ({"content_available": "yes"}, ("content_available",), "boolean"),
    ],
)  # fmt: skip
def test_rich_message_refuses(fields: dict[str, Any], loc: tuple[Any, ...], reason: str) -> None:
    base = {} if fields.get("content_available") is True else {"title": "t", "body": "b"}
    with pytest.raises(ValidationError) as caught:
        Message.model_validate(base | fields)
    error = caught.value.errors()[0]
    assert error["loc"][: len(loc)] == loc and reason in error["msg"], error


def test_title_and_body_are_required_unless_data_only() -> None:
    with pytest.raises(ValidationError, match="title: required"):
        Message.model_validate({"body": "b"})
    with pytest.raises(ValidationError, match="body: required"):
        Message.model_validate({"title": "t"})


def test_size_check_counts_the_rich_fields() -> None:
    """Buttons, subtitle and options count towards each platform's limit, not just title and body."""
    body = "é" * 1650  # 3300 bytes
    check_sizes(Message(title="T", body=body), CID)
    rich = Message.model_validate({
        "title": "T", "body": body,
        "actions": [{"id": f"a{i}", "title": "x" * 64, "url": "https://shop.example.com/" + "p" * 120}
                    for i in range(3)],
    })  # fmt: skip
    with pytest.raises(PayloadTooLarge):
        check_sizes(rich, CID)
    check_sizes(Message(title="T", body="é" * 1900), CID)  # 3800 bytes fit every platform...
    with pytest.raises(PayloadTooLarge) as caught:  # ...until APNs also carries a subtitle
        check_sizes(Message.model_validate({"title": "T", "body": "é" * 1900,
                                            "ios": {"subtitle": "s" * 256}}), CID)  # fmt: skip
    assert caught.value.platform == "apns"
