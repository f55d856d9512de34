"""The Message contract (pushengine.content): what a campaign, template or direct send may say."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pushengine.content import Message

pytestmark = pytest.mark.unit


# ---------- the Message contract ----------
@pytest.mark.parametrize(
    "fields",
    [
        {"title": "https://x.example/{{ user_id }}", "url": "https://shop.example.com/p?u={{ user_id }}"},
        {"url": "myapp://offers/7"},
        {"url": "com.example.app://open"},
        {"image_url": "https://cdn.example.com/a.png"},
        {"data": {f"k{i}": i for i in range(50)}},
        {"data": {"s": "x", "b": True, "i": 1, "f": 1.5}},
        {"badge": 0, "sound": "default"},
        {
            "localizations": {
                "pt-BR": {"title": "Olá"},
                "de": {"body": "Hallo"},
                "es-419": {"title": "a", "body": "b"},
            }
        },
        {"localizations": {"zh-Hant-TW": {"title": "你好"}}},
    ],
)
def test_message_accepts(fields: dict[str, Any]) -> None:
    Message.model_validate({"title": "t", "body": "b"} | fields)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"title": ""}, ("title",)),
        ({"title": "   "}, ("title",)),
        ({"title": "x" * 257}, ("title",)),
        ({"body": "x" * 2049}, ("body",)),
        ({"subtitle": "x"}, ("subtitle",)),
        ({"image_url": "http://cdn.example.com/a.png"}, ("image_url",)),
        ({"image_url": "cdn.example.com/a.png"}, ("image_url",)),
        ({"url": "http://shop.example.com"}, ("url",)),
        ({"url": "javascript://%0Aalert(1)"}, ("url",)),
        ({"url": "javascript:alert(1)"}, ("url",)),
        ({"url": "https:///path"}, ("url",)),
        ({"url": "/relative"}, ("url",)),
        ({"data": {f"k{i}": i for i in range(51)}}, ("data",)),
        ({"data": {"campaign_id": "x"}}, ("data", "campaign_id", "[key]")),
        ({"data": {"google.c.a": "x"}}, ("data", "google.c.a", "[key]")),
        ({"data": {"bad key": "x"}}, ("data", "bad key", "[key]")),
        ({"data": {"n": None}}, ("data", "n")),
        ({"data": {"n": [1]}}, ("data", "n")),
        ({"data": {"n": float("nan")}}, ("data", "n")),
        ({"badge": -1}, ("badge",)),
        ({"badge": True}, ("badge",)),
        ({"badge": "3"}, ("badge",)),
        ({"sound": "../../etc/x"}, ("sound",)),
        ({"localizations": {"portuguese!": {"title": "x"}}}, ("localizations", "portuguese!", "[key]")),
        ({"localizations": {"de": {}}}, ()),
        ({"localizations": {"de": {"title": "a"}, "DE": {"title": "b"}}}, ()),
        ({"localizations": {"de": {"subject": "a"}}}, ("localizations", "de", "subject")),
    ],
)
def test_message_refuses(fields: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        Message.model_validate({"title": "t", "body": "b"} | fields)
    assert caught.value.errors()[0]["loc"][: len(loc)] == loc
