"""Payload builders (pushengine.payloads): a rendered message in, the exact payload each push service gets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pushengine.content import RenderedMessage
from pushengine.payloads import apns, fcm, webpush
from pushengine.payloads.base import collapse_id, payload_size

pytestmark = pytest.mark.unit

CID = "cmp_01HZX"
IMG = "https://cdn.example.com/sale.png"
DATA = {"sku": "A-1", "qty": 2, "price": 9.5, "vip": True, "gift": False}


# ---------- payload builders: input -> exact payload ----------
@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (
            RenderedMessage("T", "B"),
            {"aps": {"alert": {"title": "T", "body": "B"}}, "campaign_id": CID},
        ),
        (
            RenderedMessage("T", "B", badge=0, sound="default"),
            {
                "aps": {"alert": {"title": "T", "body": "B"}, "badge": 0, "sound": "default"},
                "campaign_id": CID,
            },
        ),
        (
            RenderedMessage(
                "T", "B", url="myapp://offers/7", image_url=IMG, data=DATA, badge=3, sound="chime.caf"
            ),
            {
                "aps": {
                    "alert": {"title": "T", "body": "B"},
                    "badge": 3,
                    "sound": "chime.caf",
                    "mutable-content": 1,
                },
                "campaign_id": CID,
                "url": "myapp://offers/7",
                "image_url": IMG,
                "data": DATA,
            },
        ),
        (
            RenderedMessage("T", "B", url="https://shop.example.com/x"),
            {
                "aps": {"alert": {"title": "T", "body": "B"}},
                "campaign_id": CID,
                "url": "https://shop.example.com/x",
            },
        ),
    ],
)
def test_apns_payload(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    assert apns.payload(rendered, CID) == expected


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (
            RenderedMessage("T", "B"),
            {"notification": {"title": "T", "body": "B"}, "data": {"campaign_id": CID}},
        ),
        (
            RenderedMessage("T", "B", url="myapp://offers/7", image_url=IMG, data=DATA),
            {
                "notification": {"title": "T", "body": "B", "image": IMG},
                "data": {
                    "sku": "A-1",
                    "qty": "2",
                    "price": "9.5",
                    "vip": "true",
                    "gift": "false",
                    "campaign_id": CID,
                    "url": "myapp://offers/7",
                },
            },
        ),
        (
            RenderedMessage("T", "B", badge=0, sound="default"),
            {
                "notification": {"title": "T", "body": "B"},
                "data": {"campaign_id": CID},
                "android": {"notification": {"sound": "default", "notification_count": 0}},
            },
        ),
    ],
)
def test_fcm_message(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    message = fcm.message(rendered, CID)
    assert message == expected
    assert all(isinstance(v, str) for v in message["data"].values())
    assert "token" not in message  # the adapter adds token, android.ttl and android.collapse_key


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        (
            RenderedMessage("T", "B"),
            {"title": "T", "body": "B", "campaign_id": CID, "tag": "tag1"},
        ),
        (
            RenderedMessage(
                "T", "B", url="https://shop.example.com/x", image_url=IMG, data=DATA, badge=2, sound="x"
            ),
            {
                "title": "T",
                "body": "B",
                "image": IMG,
                "url": "https://shop.example.com/x",
                "data": DATA,
                "campaign_id": CID,
                "tag": "tag1",
            },
        ),
    ],
)
def test_webpush_payload(rendered: RenderedMessage, expected: dict[str, Any]) -> None:
    assert webpush.payload(rendered, CID, "tag1") == expected


def test_payload_builders_do_not_share_the_campaign_data_dict() -> None:
    rendered = RenderedMessage("T", "B", data={"a": 1})
    apns.payload(rendered, CID)["data"]["a"] = 2
    webpush.payload(rendered, CID, "t")["data"]["a"] = 3
    assert rendered.data == {"a": 1}


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        ({"t": "a"}, 9),
        ({"t": "é"}, 10),  # 2 UTF-8 bytes, not escaped
        ({"t": "😀"}, 12),  # emoji: 4 bytes
        ({"t": 'a"b'}, 12),  # the escape backslash counts
        ({"a": [1, 2]}, 11),  # compact separators
    ],
)
def test_payload_size_counts_compact_utf8_bytes(payload: dict[str, Any], size: int) -> None:
    assert payload_size(payload) == size


# ---------- collapse identifier ----------
def test_collapse_id_is_deterministic_short_base64url() -> None:
    cid = collapse_id(CID)
    assert cid == collapse_id(CID)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", cid)
    assert len(cid.encode()) <= 64
    assert collapse_id("x" * 500) != collapse_id("x" * 499)
    assert len(collapse_id("x" * 500)) <= 32


def test_rendered_payload_matches_json_the_adapters_send() -> None:
    rendered = RenderedMessage("Olá 😀", "b", data=DATA)
    payload = apns.payload(rendered, CID)
    assert payload_size(payload) == len(
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    )
