"""The JSON a site's service worker (sdk/web/push-sw.js) receives for one rendered message, and the
room Web Push leaves for it.

Two shapes: the engine's own JSON, which only a service worker can show, and for subscriptions on Apple's
push service the Declarative Web Push message (WebKit, Safari 18.4+: `{"web_push": 8030, "notification":
{...}}`), which the browser shows by itself and a service worker still receives when it exists. Both are
encrypted alike (aes128gcm) by the adapter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pushengine.content import RenderedMessage, WebOptions
from pushengine.payloads.base import Platform, action_json, attach_top_level, payload_size, present

MAX_BODY_BYTES = 4096  # RFC 8030 §7.2: push services must accept at least this much
# RFC 8291 aes128gcm in one record: a header of 16 salt + 4 rs + 1 idlen + 65 keyid, then the plaintext,
# its 1-byte padding delimiter and the 16-byte AEAD tag
ENCRYPTION_OVERHEAD = 86 + 1 + 16
MAX_PLAINTEXT_BYTES = MAX_BODY_BYTES - ENCRYPTION_OVERHEAD
_OPTIONS = ("require_interaction", "renotify", "silent")  # showNotification() options passed as written


def payload(r: RenderedMessage, campaign_id: str, collapse_id: str) -> dict[str, Any]:
    """`tag` (the collapse id) makes a repeat replace the shown notification. A data-only message is
    `{"data_only": true, data?, campaign_id}`: the worker shows nothing and posts it to the site's open
    pages."""
    if r.content_available:
        data_only: dict[str, Any] = {"data_only": True}
        if r.data:
            data_only["data"] = dict(r.data)
        data_only["campaign_id"] = campaign_id
        return data_only
    web = r.web or WebOptions()
    body: dict[str, Any] = {"title": r.title, "body": r.body}
    body |= present(("icon", web.icon), ("image", r.image_url), ("badge", web.badge), ("url", r.url))
    if r.data:
        body["data"] = dict(r.data)
    if r.actions:
        body["actions"] = [action_json(a) for a in r.actions]
    body["campaign_id"] = campaign_id
    body["tag"] = collapse_id
    return body | present(*((key, getattr(web, key)) for key in _OPTIONS))


PLATFORM = Platform("webpush", payload, MAX_PLAINTEXT_BYTES, payload_size)

DECLARATIVE_WEB_PUSH = 8030  # the magic number that marks a declarative push message
APPLE_PUSH_SERVICE = ".push.apple.com"  # web.push.apple.com: Safari's subscriptions
_HTTPS_HOST = re.compile(r"https://([^/?#:@\[\]\\]+)(?::\d*)?(?:[/?#]|$)", re.IGNORECASE)  # an https URL's host
# primary language subtags written right to left (the notification's `dir`)
_RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ku", "ps", "sd", "ug", "ur", "yi"})


def is_declarative_endpoint(endpoint: object) -> bool:
    """A subscription on Apple's push service: it is sent the declarative message. Which hosts may be
    called at all is the allow-list's to say (pushengine.outbound), checked at registration and on send.
    It runs for every web send: most endpoints are ruled out by a substring test (~0.2 us)."""
    if not isinstance(endpoint, str) or APPLE_PUSH_SERVICE not in endpoint[:256].lower():
        return False
    match = _HTTPS_HOST.match(endpoint)
    if match is None:
        return False
    host = match.group(1).lower()
    return host.endswith(APPLE_PUSH_SERVICE) and len(host) > len(APPLE_PUSH_SERVICE)


def text_direction(lang: str) -> str:
    """`rtl` for a language written right to left (Arabic, Hebrew, Persian...), else `ltr`."""
    return "rtl" if lang.split("-", 1)[0].lower() in _RTL_LANGUAGES else "ltr"


def _https(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    return url if parts.scheme == "https" and parts.netloc else None


def navigate_url(r: RenderedMessage) -> str | None:
    """Where a tap goes (required, an https URL): the message's url, else its first button's https url."""
    return _https(r.url) or next((u for a in r.actions if (u := _https(a.url)) is not None), None)


def declarative_payload(r: RenderedMessage, campaign_id: str, collapse_id: str) -> dict[str, Any]:
    """The declarative message: `title` and `navigate` are required (WebKit drops a message without
    them), so a message with no https url, an empty title or no notification at all (data-only) is sent
    in the engine's own shape, which the site's service worker shows. The engine's fields travel in
    `notification.data` (the shown notification's data, where the worker reads them on a tap), and
    `mutable` lets a service worker show it itself so `delivered` and `opened` are reported; without one
    (or if it fails) the browser shows this message as it is."""
    navigate = navigate_url(r)
    if r.content_available or navigate is None or not r.title:
        return payload(r, campaign_id, collapse_id)
    web = r.web or WebOptions()
    notification: dict[str, Any] = {"title": r.title, "body": r.body, "navigate": navigate}
    if r.lang is not None:
        notification |= {"lang": r.lang, "dir": text_direction(r.lang)}
    notification |= present(
        ("silent", web.silent), ("app_badge", r.badge), ("icon", web.icon), ("image", r.image_url),
        ("badge", web.badge), ("requireInteraction", web.require_interaction), ("renotify", web.renotify),
    )  # fmt: skip
    notification["tag"] = collapse_id
    if r.actions:  # every declarative action needs its own https URL: a button without one opens `navigate`
        notification["actions"] = [
            {"action": a.id, "title": a.title, "navigate": _https(a.url) or navigate} for a in r.actions
        ]
    data: dict[str, Any] = {"campaign_id": campaign_id}
    if r.data:
        data["data"] = dict(r.data)
    if r.actions:
        data["actions"] = [action_json(a) for a in r.actions]  # the worker's click handler reads these
    notification["data"] = data
    notification["mutable"] = True
    return {"web_push": DECLARATIVE_WEB_PUSH, "notification": notification}


def attach_declarative(body: dict[str, Any], fields: Mapping[str, str]) -> None:
    """Extra engine fields (a journey's id and step) go where the shown notification keeps them."""
    notification = body.get("notification")
    if isinstance(notification, dict):
        notification.setdefault("data", {}).update(fields)
    else:
        attach_top_level(body, fields)


DECLARATIVE = Platform(
    "webpush", declarative_payload, MAX_PLAINTEXT_BYTES, payload_size, attach=attach_declarative
)
