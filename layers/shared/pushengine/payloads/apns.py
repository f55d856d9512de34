"""The APNs JSON body for one rendered message (Apple, "Generating a remote notification")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pushengine.content import Action, IosOptions, RenderedMessage
from pushengine.payloads.base import Platform, action_json, payload_size, present

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
    alert = {"title": r.title, **present(("subtitle", ios.subtitle)), "body": r.body}
    aps: dict[str, Any] = {"alert": alert, **present(("badge", r.badge), ("sound", r.sound))}
    if r.image_url is not None or (r.actions and ios.category is None):
        # the Notification Service Extension attaches the image / registers the payload's buttons
        aps["mutable-content"] = 1
    if ios.category is not None or r.actions:
        aps["category"] = ios.category if ios.category is not None else actions_category(r.actions)
    aps |= present(
        ("thread-id", ios.thread_id),
        ("interruption-level", ios.interruption_level),
        ("relevance-score", ios.relevance_score),
    )
    body = {"aps": aps, "campaign_id": campaign_id, **present(("url", r.url), ("image_url", r.image_url))}
    if r.actions:
        body["actions"] = [action_json(a) for a in r.actions]
    return _with_data(body, r)


def _with_data(body: dict[str, Any], r: RenderedMessage) -> dict[str, Any]:
    if r.data:
        body["data"] = dict(r.data)
    return body


PLATFORM = Platform("apns", payload, MAX_PAYLOAD_BYTES, payload_size)
