"""The APNs JSON body for one rendered message (Apple, "Generating a remote notification")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pushengine.content import Action, IosOptions, RenderedMessage
from pushengine.payloads.base import Platform, action_json, payload_size

MAX_PAYLOAD_BYTES = 4096  # Apple: an alert or background push's body


def actions_category(actions: Iterable[Action]) -> str:
    """The APNs category for a message's buttons when it names none: "pe." and the action ids, so the app
    (or its Notification Service Extension, from the payload's "actions") registers one category per set."""
    return "pe." + ".".join(action.id for action in actions)


def payload(r: RenderedMessage, campaign_id: str, collapse_id: str = "") -> dict[str, Any]:
    """The body. A data-only message is a background push: `content-available` and nothing shown (the
    adapter sends it with apns-push-type: background and apns-priority: 5). The collapse id travels in a
    header (the adapter's), not here."""
    if r.content_available:
        return _with_data({"aps": {"content-available": 1}, "campaign_id": campaign_id}, r)
    ios = r.ios or IosOptions()
    alert: dict[str, Any] = {"title": r.title}
    if ios.subtitle is not None:
        alert["subtitle"] = ios.subtitle
    alert["body"] = r.body
    aps: dict[str, Any] = {"alert": alert}
    if r.badge is not None:
        aps["badge"] = r.badge
    if r.sound is not None:
        aps["sound"] = r.sound
    if r.image_url is not None or (r.actions and ios.category is None):
        # the Notification Service Extension attaches the image / registers the payload's buttons
        aps["mutable-content"] = 1
    if ios.category is not None or r.actions:
        aps["category"] = ios.category if ios.category is not None else actions_category(r.actions)
    if ios.thread_id is not None:
        aps["thread-id"] = ios.thread_id
    if ios.interruption_level is not None:
        aps["interruption-level"] = ios.interruption_level
    if ios.relevance_score is not None:
        aps["relevance-score"] = ios.relevance_score
    body: dict[str, Any] = {"aps": aps, "campaign_id": campaign_id}
    if r.url is not None:
        body["url"] = r.url
    if r.image_url is not None:
        body["image_url"] = r.image_url
    if r.actions:
        body["actions"] = [action_json(a) for a in r.actions]
    return _with_data(body, r)


def _with_data(body: dict[str, Any], r: RenderedMessage) -> dict[str, Any]:
    if r.data:
        body["data"] = dict(r.data)
    return body


PLATFORM = Platform("apns", payload, MAX_PAYLOAD_BYTES, payload_size)
