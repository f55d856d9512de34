"""Liquid rendering (pushengine.rendering): templates, the fields they name in errors, locale fallback and
render keys."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushengine.content import Message, RenderedMessage
from pushengine.errors import InvalidInput
from pushengine.rendering import CompiledMessage, RenderError, TemplateError

pytestmark = pytest.mark.unit

CID = "cmp_01HZX"
IMG = "https://cdn.example.com/sale.png"


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
    static: dict[str, Any] = {"image_url": IMG, "data": {"n": 1}, "badge": 1, "sound": "default"}
    message = Message(
        title="Hi {{ attributes.first_name }}",
        body="{{ tags.plan }} perks",
        url="myapp://u/{{ user_id }}",
        **static,
    )
    rendered = CompiledMessage.compile(message, CID).render(_device())
    assert rendered == RenderedMessage(title="Hi Ana", body="pro perks", url="myapp://u/u-42", **static)


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
