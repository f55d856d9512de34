"""What every payload builder shares: the platform record composition and the size check go through,
the JSON encoding the adapters send, buttons as JSON, and the campaign's collapse identifier."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pushengine.content import Action, RenderedMessage


def attach_top_level(body: dict[str, Any], fields: Mapping[str, str]) -> None:
    """Extra engine fields (a journey's id and step) beside the campaign id, at the payload's top level."""
    body.update(fields)


@dataclass(frozen=True, slots=True)
class Platform:
    """One push service's builder and limit, so composition and the size check treat them alike."""

    service: str  # the push service (the provider channel): "apns", "fcm", "webpush"
    build: Callable[[RenderedMessage, str, str], dict[str, Any]]  # (message, campaign id, collapse id)
    limit: int  # bytes the service accepts, as `wire_size` counts them
    wire_size: Callable[[Mapping[str, Any]], int]
    # the encoded payload is the whole request body, the same for every device that renders it alike
    # (not FCM's: its body also holds the device's token)
    shared_body: bool = True
    # where extra engine fields (a journey's id and step) go in a built payload
    attach: Callable[[dict[str, Any], Mapping[str, str]], None] = attach_top_level


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as the provider adapters send it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def payload_size(payload: Mapping[str, Any]) -> int:
    """Bytes on the wire, as `encode` gives them."""
    return len(encode(payload))


def present(*fields: tuple[str, Any]) -> dict[str, Any]:
    """The (key, value) pairs whose value is given, in order: optional fields a payload leaves out."""
    return {key: value for key, value in fields if value is not None}


def action_json(action: Action) -> dict[str, str]:
    """A button as the app or service worker reads it."""
    out = {"id": action.id, "title": action.title}
    if action.url is not None:
        out["url"] = action.url
    return out


def collapse_id(campaign_id: str) -> str:
    """32 base64url chars: fits apns-collapse-id (64 bytes), FCM collapse_key and the Web Push Topic (32)."""
    digest = hashlib.sha256(campaign_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]
