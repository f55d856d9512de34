"""The FCM HTTP v1 `message` for one rendered message, without what the adapter adds per send (the
token, android.collapse_key, android.ttl and the category's priority)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pushengine.content import AndroidOptions, RenderedMessage
from pushengine.payloads.base import Platform, action_json, payload_size, present

MAX_MESSAGE_BYTES = 4096  # FCM: a message's notification and data together
_SHOWN = ("channel_id", "color", "icon", "tag", "sticky", "click_action")  # android.notification as written


def data_value(value: str | bool | int | float) -> str:
    """FCM data values are strings: others in their JSON spelling (true, 1.5), so apps parse the same text on
    every platform."""
    return value if isinstance(value, str) else json.dumps(value)


def message(r: RenderedMessage, campaign_id: str, collapse_id: str = "") -> dict[str, Any]:
    """A data-only message has no `notification`: the app's FirebaseMessagingService gets onMessageReceived.
    Buttons travel in data["actions"] (JSON), since FCM's own notification has none: the app builds them.
    The collapse id is the adapter's to add (android.collapse_key)."""
    data = {key: data_value(value) for key, value in (r.data or {}).items()}
    data["campaign_id"] = campaign_id
    options = r.android or AndroidOptions()
    android: dict[str, Any] = {}
    if options.priority is not None:
        android["priority"] = options.priority.upper()
    if r.content_available:
        return _with_android({"data": data}, android)
    notification = {"title": r.title, "body": r.body, **present(("image", r.image_url))}
    if r.url is not None:
        data["url"] = r.url
    if r.actions:
        data["actions"] = json.dumps(
            [action_json(a) for a in r.actions], separators=(",", ":"), ensure_ascii=False
        )
    shown = present(
        *((key, getattr(options, key)) for key in _SHOWN), ("sound", r.sound), ("notification_count", r.badge)
    )
    if shown:
        android["notification"] = shown
    return _with_android({"notification": notification, "data": data}, android)


def _with_android(body: dict[str, Any], android: dict[str, Any]) -> dict[str, Any]:
    if android:
        body["android"] = android
    return body


def wire_size(body: Mapping[str, Any]) -> int:
    """The message as the request wraps it: {"message": ...}."""
    return payload_size({"message": body})


def attach_data(body: dict[str, Any], fields: Mapping[str, str]) -> None:
    """Extra engine fields (a journey's id and step) go in `data`, beside the campaign id."""
    body.setdefault("data", {}).update(fields)


PLATFORM = Platform("fcm", message, MAX_MESSAGE_BYTES, wire_size, shared_body=False, attach=attach_data)
