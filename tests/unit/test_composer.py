"""The sender's Composer: memoised payloads are exactly what rendering each device would give."""

from __future__ import annotations

import json

from pushengine.compose import Composer
from pushengine.models import CampaignSpec

SPEC = CampaignSpec.model_validate({
    "message": {
        "title": 'Hi {{ attributes.first_name | default: "there" }}',
        "body": "{% if tags.plan == 'pro' %}Thanks for being pro{% else %}Go pro{% endif %}",
        "url": "https://shop.example.com/p?u={{ user_id }}",
        "localizations": {"de": {"title": 'Hallo {{ attributes.first_name | default: "du" }}'}},
    },
    "variants": [{"name": "b", "message": {"title": "B {{ attributes.first_name }}", "body": "b"}}],
})


def _entry(
    platform: str, user: str, name: str | None, locale: str = "en", plan: str = "pro", v: str = "default"
):
    context = {"locale": locale, "user_id": user, "tags": {"plan": plan},
               "attributes": {"first_name": name} if name else {}}  # fmt: skip
    return {"id": user, "p": platform, "v": v, "c": context, "t": "ab" * 32}


def test_memoised_payloads_match_each_device() -> None:
    composer = Composer("cmp_1", SPEC)
    entries = [
        _entry("web", "u1", "Ana"), _entry("web", "u1", "Ana"), _entry("web", "u2", "Ana"),
        _entry("web", "u1", "Bea"), _entry("web", "u1", None), _entry("web", "u1", "Ana", locale="de-AT"),
        _entry("web", "u1", "Ana", plan="free"), _entry("web", "u1", "Ana", v="b"), _entry("ios", "u1", "Ana"),
    ]  # fmt: skip
    got = [composer.notification(e) for e in entries]
    fresh = [Composer("cmp_1", SPEC).notification(e) for e in entries]  # nothing memoised yet
    assert [n.payload for n in got] == [n.payload for n in fresh]
    assert got[0].payload is got[1].payload  # same values read: rendered once
    assert got[0].payload is not got[2].payload  # the url reads user_id
    titles = [n.payload.get("title") or n.payload["aps"]["alert"]["title"] for n in got]
    assert titles == [
        "Hi Ana",
        "Hi Ana",
        "Hi Ana",
        "Hi Bea",
        "Hi there",
        "Hallo Ana",
        "Hi Ana",
        "B Ana",
        "Hi Ana",
    ]
    assert got[6].payload["body"] == "Go pro"
    for n in got:  # the serialised form is the payload itself
        assert n.encoded is not None and json.loads(n.encoded) == n.payload


def test_fcm_payload_is_not_preserialised() -> None:
    n = Composer("cmp_1", SPEC).notification(_entry("android", "u1", "Ana"))
    assert n.encoded is None and n.payload["notification"]["title"] == "Hi Ana"
