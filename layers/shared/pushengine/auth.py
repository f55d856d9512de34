"""Who is calling: API keys (made once, stored only as hashes, compared in constant time) and the rights
of each kind of caller.

Key format `<kind>.<app_id>.<secret>` lets a request find its app with one read; the secret
part is 256 random bits, so a plain SHA-256 is the right hash (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pushengine.errors import Forbidden, Unauthorized

# What a caller may do. `analytics` reads results only (never devices, users or credentials); `marketer`
# (a console role, not a key) acts as the server key on every route but credentials, keys and settings.
Kind = Literal["admin", "server", "client", "analytics", "marketer"]
KeyKind = Literal["client", "server", "analytics"]  # the kinds an app's keys come in
# Who may read results: the GET routes of campaigns, segments, templates, time series, and the audience count.
READERS: tuple[Kind, ...] = ("server", "analytics")
_PREFIX: dict[str, Kind] = {"pes": "server", "pec": "client", "pea": "analytics"}
_KIND_PREFIX = {kind: prefix for prefix, kind in _PREFIX.items()}


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller's rights (`kind`, `app_id`) and, for the audit log, who it is: a key or a console user."""

    kind: Kind
    app_id: str | None = None
    key_id: str | None = field(default=None, compare=False)
    user: str | None = field(default=None, compare=False)  # a console user's name
    role: str | None = field(default=None, compare=False)  # a console user's group

    def actor(self) -> dict[str, str]:
        """The audit log's `actor`: the console user, or the key's kind and id (never the key)."""
        if self.user is not None:
            return {"kind": "console", "user": self.user, "role": str(self.role)}
        return {"kind": self.kind} | ({"key_id": self.key_id} if self.key_id else {})


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(kind: KeyKind, app_id: str) -> str:
    """The public start of every key of this kind and app (`<kind>.<app_id>.`): it names no secret."""
    return f"{_KIND_PREFIX[kind]}.{app_id}."


def new_key(kind: KeyKind, app_id: str) -> str:
    return key_prefix(kind, app_id) + secrets.token_urlsafe(32)


def bearer(headers: Mapping[str, str] | None) -> str | None:
    value = (headers or {}).get("authorization") or (headers or {}).get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(
    key: str | None,
    *,
    admin_key_hash: str,
    load_app: Callable[[str], Mapping[str, Any] | None],
) -> Principal:
    """Who is calling. Raises Unauthorized for a missing or wrong key (never says which part)."""
    if not key:
        raise Unauthorized("missing bearer key")
    digest = hash_key(key)
    if admin_key_hash and hmac.compare_digest(digest, admin_key_hash):
        return Principal("admin", key_id="admin")
    prefix, _, rest = key.partition(".")
    app_id, _, secret = rest.partition(".")
    kind = _PREFIX.get(prefix)
    app = load_app(app_id) if kind and app_id and secret else None
    # Compare even when the app is unknown so timing does not reveal which apps exist; every stored key
    # of the kind is compared (several are valid at once while keys rotate).
    matched = False
    for stored in key_hashes(app or {}, kind) or ["0" * 64]:
        matched |= hmac.compare_digest(digest, stored)
    if not matched or kind is None or app is None:
        raise Unauthorized("invalid key")
    return Principal(kind, app_id, key_id=key_id(digest))


def key_hashes(app: Mapping[str, Any], kind: str | None) -> list[str]:
    """The hashes of an app's valid keys of this kind: the ones made with the app, and those issued since."""
    first = app.get(f"{kind}_key_hash")
    issued = [str(k["hash"]) for k in (app.get("keys") or {}).values() if k.get("kind") == kind]
    return ([str(first)] if first else []) + issued


def key_id(key_hash: str) -> str:
    """A key's public name (for revoking it): derived from its hash, so the first keys have one too."""
    return "key_" + hashlib.sha256(("id:" + key_hash).encode()).hexdigest()[:16]


def require(
    principal: Principal, *kinds: Kind, app_id: str | None = None, operator: bool = False
) -> Principal:
    """The caller must hold one of these kinds of key, and (when given) belong to this app; the admin key
    belongs to every app. A marketer passes where a server key does, unless the route is an `operator`
    one (credentials, keys, settings, the audit log)."""
    allowed = principal.kind in kinds or (principal.kind == "marketer" and "server" in kinds and not operator)
    if not allowed:
        article = "an" if principal.kind[0] in "aeiou" else "a"
        who = f"the {principal.role} role" if principal.user else f"{article} {principal.kind} key"
        raise Forbidden(f"{who} may not call this route (it needs a {' or '.join(kinds)} key)")
    if app_id is not None and principal.kind != "admin" and principal.app_id != app_id:
        raise Forbidden("key belongs to another app")
    return principal
