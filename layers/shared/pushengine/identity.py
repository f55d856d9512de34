"""Verified users: a client request that names a `user_id` carries `X-User-Token`, an HS256 JWT
`{"sub": user_id, "exp": ...}` the app's backend signs with the app's identity secret (PyJWT).

The secret is shared with the app's backend only (shown by `POST /v1/apps` and its rotation); a client key
holder without a token for the user can no longer register a device for them nor post their events.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt

from pushengine.errors import Forbidden

HEADER = "x-user-token"
SETTING = "identity_verification"  # "required" | "off"; an app without it (made before it existed) is off
LEEWAY_SECONDS = 30  # clock skew between the app's backend and the engine


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def required(app: Mapping[str, Any] | None) -> bool:
    return ((app or {}).get("settings") or {}).get(SETTING) == "required"


def mint(secret: str, user_id: str, *, expires_in: int = 3600, now: float | None = None) -> str:
    """A user token as an app's backend makes one (README shows the same in Python and Node)."""
    issued = int(time.time() if now is None else now)
    return jwt.encode({"sub": user_id, "iat": issued, "exp": issued + expires_in}, secret, algorithm="HS256")


def verify(secret: str | None, token: str | None, user_id: str) -> None:
    """Raises Forbidden unless `token` is an unexpired HS256 token of `secret` for `user_id`."""
    if not token:
        raise Forbidden("this app verifies users: send X-User-Token for this user_id", field=HEADER)
    if not secret:  # verification is on but no secret was ever made: nothing can verify, refuse
        raise Forbidden("this app has no identity secret: rotate one with the server key", field=HEADER)
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS, options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise Forbidden("the user token has expired", field=HEADER) from None
    except jwt.InvalidTokenError:
        raise Forbidden("the user token is not valid for this app", field=HEADER) from None
    if not hmac.compare_digest(str(claims["sub"]).encode(), user_id.encode()):
        raise Forbidden("the user token is for another user_id", field=HEADER)
