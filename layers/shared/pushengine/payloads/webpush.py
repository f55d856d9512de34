"""The JSON a site's service worker (sdk/web/push-sw.js) receives for one rendered message, and the
room Web Push leaves for it."""

from __future__ import annotations

from typing import Any

from pushengine.content import RenderedMessage, WebOptions
from pushengine.payloads.base import Platform, action_json, payload_size, present

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
