"""Composition (pushengine.compose): the worst-case size check at campaign creation."""

from __future__ import annotations

from typing import Any

import pytest

from pushengine.compose import PayloadTooLarge, check_sizes
from pushengine.content import Message, RenderedMessage
from pushengine.payloads import apns, fcm, webpush
from pushengine.payloads.base import collapse_id, payload_size

pytestmark = pytest.mark.unit

CID = "cmp_01HZX"


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
