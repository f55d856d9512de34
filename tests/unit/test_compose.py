"""Composition: Message contract, Liquid rendering, locale fallback, per-platform payloads, size limits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pushengine.compose import PayloadTooLarge, check_sizes
from pushengine.content import Message, RenderedMessage
from pushengine.errors import InvalidInput
from pushengine.payloads import apns, fcm, webpush
from pushengine.payloads.base import collapse_id, payload_size
from pushengine.rendering import CompiledMessage, RenderError, TemplateError

pytestmark = pytest.mark.unit

CID = "cmp_01HZX"
IMG = "https://cdn.example.com/sale.png"
DATA = {"sku": "A-1", "qty": 2, "price": 9.5, "vip": True, "gift": False}


def _device(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "platform": "ios",
        "token": "abcd" * 16,
        "locale": "en-US",
        "country": "US",
        "timezone": "America/New_York",
        "user_id": "u-42",
        "tags": {"plan": "pro", "visits": 3},
        "attributes": {"first_name": "Ana"},
    }
    return base | fields


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


# ---------- Liquid rendering ----------
@pytest.mark.parametrize(
    ("title", "device", "expected"),
    [
        ('Hi {{ attributes.first_name | default: "there" }}', _device(), "Hi Ana"),
        ('Hi {{ attributes.first_name | default: "there" }}', _device(attributes={}), "Hi there"),
        ('Hi {{ attributes.first_name | default: "there" }}', {"locale": "en"}, "Hi there"),
        ("Your {{ tags.plan | upcase }} plan", _device(), "Your PRO plan"),
        ("{{ tags.visits | plus: 1 }} visits", _device(), "4 visits"),
        ("Hi {{ attributes.nickname }}!", _device(), "Hi !"),  # missing renders empty
        ("{% if tags.plan == 'pro' %}Thanks{% else %}Upgrade{% endif %}", _device(), "Thanks"),
        ("{% if tags.plan == 'pro' %}Thanks{% else %}Upgrade{% endif %}", _device(tags={}), "Upgrade"),
        ("{{ country }}/{{ platform }}/{{ timezone }}", _device(), "US/ios/America/New_York"),
        ("  {{ attributes.nickname }} Hello  ", _device(), "Hello"),  # trimmed
        ("token={{ token }}", _device(), "token="),  # only profile fields reach templates
        ("Plain title", _device(), "Plain title"),
    ],
)
def test_render_title(title: str, device: dict[str, Any], expected: str) -> None:
    compiled = CompiledMessage.compile(Message(title=title, body="b"), CID)
    assert compiled.render(device).title == expected


def test_render_fills_every_field() -> None:
    message = Message(
        title="Hi {{ attributes.first_name }}",
        body="{{ tags.plan }} perks",
        url="myapp://u/{{ user_id }}",
        image_url=IMG,
        data={"n": 1},
        badge=1,
        sound="default",
    )
    rendered = CompiledMessage.compile(message, CID).render(_device())
    assert rendered == RenderedMessage(
        title="Hi Ana",
        body="pro perks",
        url="myapp://u/u-42",
        image_url=IMG,
        data={"n": 1},
        badge=1,
        sound="default",
    )


def test_url_that_renders_blank_is_left_out() -> None:
    message = Message(title="t", body="b", url="myapp://x{% if false %}{% endif %}")
    assert CompiledMessage.compile(message, CID).render(_device()).url == "myapp://x"
    blank = Message(title="t", body="b", url="https://{{ attributes.host }}")
    assert CompiledMessage.compile(blank, CID).render(_device()).url == "https://"
    assert CompiledMessage.compile(Message(title="t", body="b"), CID).render(_device()).url is None


def test_render_error_names_the_field() -> None:
    compiled = CompiledMessage.compile(Message(title="t", body="{{ tags.visits | divided_by: 0 }}"), CID)
    with pytest.raises(RenderError) as caught:
        compiled.render(_device())
    assert caught.value.field == "message.body"
    assert "divide" in caught.value.reason


@pytest.mark.parametrize(
    ("body", "device"),
    [
        ("{% for i in (1..100000) %}{% endfor %}", _device()),  # loop limit
        ("{{ attributes.first_name }}", _device(attributes={"first_name": "x" * 20_000})),  # output limit
    ],
)
def test_render_work_per_device_is_bounded(body: str, device: dict[str, Any]) -> None:
    with pytest.raises(RenderError) as caught:
        CompiledMessage.compile(Message(title="t", body=body), CID).render(device)
    assert caught.value.field == "message.body"


# ---------- template errors name the field ----------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "Hi {{ attributes.first_name "}, "message.title"),
        ({"body": "{% if tags.plan %}pro"}, "message.body"),
        ({"url": "myapp://x/{{ user_id | }}"}, "message.url"),
        ({"body": "{{ user_id | no_such_filter }}"}, "message.body"),
        ({"body": "{% include 'other' %}"}, "message.body"),
        ({"localizations": {"de": {"title": "Hallo {{ x"}}}, "message.localizations.de.title"),
        (
            {"localizations": {"pt-BR": {"title": "ok", "body": "{% endif %}"}}},
            "message.localizations.pt-BR.body",
        ),
    ],
)
def test_template_error_names_field(fields: dict[str, Any], field: str) -> None:
    message = Message.model_validate({"title": "t", "body": "b"} | fields)
    with pytest.raises(TemplateError) as caught:
        CompiledMessage.compile(message, CID)
    assert caught.value.field == field
    assert caught.value.reason
    assert isinstance(caught.value, InvalidInput) and caught.value.status == 400


def test_template_error_field_prefix_for_variants() -> None:
    with pytest.raises(TemplateError) as caught:
        CompiledMessage.compile(Message(title="{{", body="b"), CID, prefix="variants.1.message")
    assert caught.value.field == "variants.1.message.title"
    compiled = CompiledMessage.compile(
        Message(title="t", body="b", url="myapp://{{ 1 | divided_by: 0 }}"), CID, prefix="variants.1.message"
    )
    with pytest.raises(RenderError) as failed:
        compiled.render(_device())
    assert failed.value.field == "variants.1.message.url"


# ---------- locale fallback ----------
AVAILABLE = ["pt", "en", "zh-Hant", "zh", "es-419", "DE-at"]


@pytest.mark.parametrize(
    ("device_locale", "expected"),
    [
        ("pt-BR", "pt"),  # region falls back to language
        ("pt", "pt"),
        ("en-GB", "en"),
        ("ES-419", "es-419"),  # exact, ignoring case
        ("es-MX", None),  # sibling region is not guessed: default message
        ("de-AT", "DE-at"),  # answers the key as the campaign spelled it
        ("de-DE", None),
        ("zh-Hant-TW", "zh-Hant"),
        ("zh-Hans-CN", "zh"),
        ("pt_BR", "pt"),  # Android-style underscore
        ("en-US-u-ca-gregory", "en"),  # extension subtags are dropped
        ("fr-FR", None),
        ("", None),
        (None, None),
    ],
)
def test_locale_fallback(device_locale: str | None, expected: str | None) -> None:
    message = Message(title="default", body="b", localizations={k: {"title": k} for k in AVAILABLE})
    rendered = CompiledMessage.compile(message, CID).render(_device(locale=device_locale))
    assert rendered.title == (expected or "default")


def test_locale_fallback_without_localizations() -> None:
    rendered = CompiledMessage.compile(Message(title="default", body="b"), CID).render(
        _device(locale="pt-BR")
    )
    assert rendered.title == "default"


def test_render_uses_locale_fallback_and_default() -> None:
    message = Message(
        title="Hello {{ attributes.first_name | default: 'there' }}",
        body="Sale",
        localizations={
            "pt": {"title": "Olá {{ attributes.first_name | default: 'você' }}", "body": "Promoção"},
            "pt-PT": {"body": "Saldos"},  # title falls back to the default message's
            "zh-Hant": {"title": "你好", "body": "特價"},
        },
    )
    compiled = CompiledMessage.compile(message, CID)
    cases = [
        ("pt-BR", "Olá Ana", "Promoção"),
        ("pt-pt", "Hello Ana", "Saldos"),
        ("zh-Hant-TW", "你好", "特價"),
        ("fr", "Hello Ana", "Sale"),
        ("pt-BR", "Olá Ana", "Promoção"),  # second time comes from the per-locale cache
    ]
    for locale, title, body in cases:
        rendered = compiled.render(_device(locale=locale))
        assert (rendered.title, rendered.body) == (title, body)
    assert compiled.render(_device(locale="pt-BR", attributes={})).title == "Olá você"
    assert compiled.render({"attributes": {"first_name": "Bo"}}).title == "Hello Bo"  # no locale: default


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


# ---------- size check at campaign creation ----------
def _limit_error(**fields: Any) -> PayloadTooLarge:
    with pytest.raises(PayloadTooLarge) as caught:
        check_sizes(Message.model_validate({"title": "T"} | fields), CID)
    return caught.value


def test_size_check_accepts_3000_byte_body() -> None:
    check_sizes(Message(title="T", body="é" * 1500), CID)
    check_sizes(Message(title="T", body="b", localizations={"de": {"body": "😀" * 750}}), CID)


def test_size_check_refuses_5000_byte_emoji_body() -> None:
    error = _limit_error(body="😀" * 1250)  # 1250 characters, 5000 bytes
    assert (error.platform, error.limit) == ("apns", apns.MAX_PAYLOAD_BYTES)
    assert error.size > 5000
    assert error.field == "message"
    assert "apns" in error.reason and str(error.size) in error.reason and "4096" in error.reason
    assert error.status == 400


@pytest.mark.parametrize("platform", ["apns", "fcm", "webpush"])
def test_5000_byte_body_is_over_every_platform_limit(platform: str) -> None:
    r = RenderedMessage("T", "😀" * 1250)
    size, limit = {
        "apns": (payload_size(apns.payload(r, CID)), apns.MAX_PAYLOAD_BYTES),
        "fcm": (payload_size({"message": fcm.message(r, CID)}), fcm.MAX_MESSAGE_BYTES),
        "webpush": (payload_size(webpush.payload(r, CID, collapse_id(CID))), webpush.MAX_PLAINTEXT_BYTES),
    }[platform]
    assert size > limit


def test_size_check_names_webpush_when_only_its_smaller_limit_is_exceeded() -> None:
    # 1952 two-byte chars: APNs 3971 and FCM 3991 fit 4096, Web Push 3994 is over its 3993
    error = _limit_error(body="é" * 1952)
    assert (error.platform, error.size, error.limit) == ("webpush", 3994, 3993)
    check_sizes(Message(title="T", body="é" * 1951), CID)  # Web Push 3992


def test_size_check_names_fcm_when_only_fcm_is_exceeded() -> None:
    # FCM spells 50 numbers as strings and repeats sound and badge under android: 4097, the others fit
    data = {f"k{i:02d}": 1000 + i for i in range(50)}
    error = _limit_error(body="é" * 1549, data=data, sound="s" * 200, badge=7)
    assert (error.platform, error.size, error.limit) == ("fcm", 4098, 4096)
    check_sizes(Message(title="T", body="é" * 1548, data=data, sound="s" * 200, badge=7), CID)  # exactly 4096


def test_size_check_counts_each_variable_as_64_bytes() -> None:
    body = "{{ tags.plan }}" * 62  # 930 bytes of source, 62 * 64 = 3968 bytes estimated
    error = _limit_error(body=body)
    worst = webpush.payload(RenderedMessage("T", "x" * 62 * 64), CID, collapse_id(CID))
    assert (error.platform, error.size) == ("webpush", payload_size(worst))
    check_sizes(Message(title="T", body="{{ tags.plan }}" * 55), CID)


def test_size_check_counts_a_long_default_in_full() -> None:
    default = "😀" * 450  # 1800 bytes each: far more than the 64-byte variable estimate
    body = "".join("{{ attributes." + name + " | default: '" + default + "' }}" for name in "abc")
    assert _limit_error(body=body).size > 3 * 1800


def test_size_check_names_the_locale_that_is_too_large() -> None:
    error = _limit_error(body="short", localizations={"de": {"title": "ok"}, "pt-BR": {"body": "😀" * 1100}})
    assert error.field == "message.localizations.pt-BR"
    assert error.platform == "apns"


def test_worst_case_includes_url_image_and_data() -> None:
    data = {f"key{i:02d}": "v" * 60 for i in range(50)}  # ~3.5 KB of data alone
    assert _limit_error(body="b" * 500, data=data, url="https://x.example/" + "p" * 100).platform == "apns"


def test_rendered_payload_matches_json_the_adapters_send() -> None:
    rendered = CompiledMessage.compile(Message(title="Olá 😀", body="b", data=DATA), CID).render(_device())
    payload = apns.payload(rendered, CID)
    assert payload_size(payload) == len(
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    )


# ---------- render keys: memoised rendering must never change what a device sees ----------
NAMED = 'Hi {{ attributes.first_name | default: "there" }}'


def _key(title: str, device: dict[str, Any], **message: Any) -> Any:
    return CompiledMessage.compile(Message(title=title, body="b", **message), CID).render_key(device)


def test_devices_reading_the_same_values_share_a_render_key() -> None:
    compiled = CompiledMessage.compile(Message(title=NAMED, body="{{ tags.plan }}"), CID)
    a = _device(user_id="u-1", tags={"plan": "pro", "visits": 1})
    b = _device(user_id="u-2", tags={"plan": "pro", "visits": 99}, token="ef" * 32)
    assert compiled.render_key(a) == compiled.render_key(b) is not None  # user_id, visits, token not read
    assert compiled.render(a) == compiled.render(b)


@pytest.mark.parametrize(
    ("title", "other"),
    [
        (NAMED, _device(attributes={"first_name": "Bea"})),
        (NAMED, _device(attributes={})),  # missing -> "there"
        ("{{ tags.visits }}", _device(tags={"plan": "pro", "visits": 3.0})),  # 3 vs 3.0 print differently
        ("{{ tags.flag }}", _device(tags={"plan": "pro", "flag": 1})),  # vs True below
        (
            "{{ attributes.first_name.size }}",
            _device(attributes={"first_name": "Bobby"}),
        ),  # .size of a string
        ("{{ locale }}", _device(locale="en-GB")),
    ],
)
def test_devices_that_render_differently_get_different_keys(title: str, other: dict[str, Any]) -> None:
    compiled = CompiledMessage.compile(Message(title=title, body="b"), CID)
    first = _device(tags={"plan": "pro", "visits": 3, "flag": True})
    assert compiled.render(first) != compiled.render(other)
    assert compiled.render_key(first) != compiled.render_key(other)


def test_locale_variant_is_part_of_the_key() -> None:
    message = Message(
        title=NAMED, body="b", localizations={"de": {"title": "Hallo {{ attributes.first_name }}"}}
    )
    compiled = CompiledMessage.compile(message, CID)
    austrian = compiled.render_key(_device(locale="de-AT"))
    assert austrian != compiled.render_key(_device(locale="en-US"))
    assert austrian == compiled.render_key(_device(locale="de"))


@pytest.mark.parametrize(
    ("title", "device"),
    [
        ('{{ "now" | date: "%Y-%m-%d %H:%M:%S" }}', _device()),  # depends on the clock
        ("{{ attributes.size }} attributes", _device()),  # the whole mapping decides
        ("{{ tags.list | join: ',' }}", _device(tags={"list": ["a", "b"]})),  # a list decides
        ("{{ attributes[tags.key] }}", _device(tags={"key": "first_name"})),  # a computed key
    ],
)
def test_no_render_key_when_more_than_plain_values_decide(title: str, device: dict[str, Any]) -> None:
    assert _key(title, device) is None


_SNIPPETS = [
    NAMED, "{{ attributes.first_name | upcase }}", "{{ attributes.first_name.size }}", "{{ tags.visits | plus: 1 }}",
    "{% if tags.plan == 'pro' %}P{% else %}F{% endif %}", "{{ tags.flag }}", "{{ locale }}-{{ country }}",
    "{{ attributes.size }}", "{{ tags.list.first }}", "{{ attributes.nick | default: attributes.first_name }}",
    "{% for t in tags.list %}{{ t }}{% endfor %}", "{{ tags.plan.size }}", "{{ attributes.first_name.first }}",
]  # fmt: skip
_VALUES = st.sampled_from(["", "Ana", "Bob", "ana", 0, 1, 1.0, True, False, None, ["x"], {"k": 1}])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_SNIPPETS), min_size=1, max_size=3),
    st.lists(
        st.fixed_dictionaries(
            {
                "locale": st.sampled_from(["en", "de-AT", "de"]),
                "country": st.sampled_from(["US", "AT"]),
                "tags": st.dictionaries(
                    st.sampled_from(["plan", "visits", "flag", "list"]), _VALUES, max_size=4
                ),
                "attributes": st.dictionaries(st.sampled_from(["first_name", "nick"]), _VALUES, max_size=2),
            }
        ),
        min_size=2,
        max_size=8,
    ),
)
def test_equal_render_keys_always_render_the_same(snippets: list[str], devices: list[dict[str, Any]]) -> None:
    message = Message(
        title=" ".join(snippets), body=snippets[-1], localizations={"de": {"title": snippets[0]}}
    )
    compiled = CompiledMessage.compile(message, CID)
    seen: dict[Any, RenderedMessage] = {}
    for device in devices:
        key, rendered = compiled.render_key(device), compiled.render(device)
        if key is not None:
            assert seen.setdefault(key, rendered) == rendered, (key, device)
