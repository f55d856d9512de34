"""Console users: Cognito ID tokens turned into the rights of a caller.

A console user belongs to one app, named by the user pool's custom attribute `custom:app_id` (set by an
administrator; the console's app client cannot write it, so a user cannot move to another app), and
holds the rights of its most powerful group: `admin` the app's server key, `marketer` the server key
but for credentials, keys and settings, `analyst` an analytics key. A token is accepted only when its
RS256 signature checks against the pool's JWKS, `iss` is the pool, `aud` the console's app client,
`token_use` is `id` and it has not expired.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import jwt

from pushengine.auth import Kind, Principal
from pushengine.errors import Forbidden, Unauthorized

ROLES: dict[str, Kind] = {"admin": "server", "marketer": "marketer", "analyst": "analytics"}
BY_POWER = ("admin", "marketer", "analyst")
# A console user's name: Cognito takes 1-128 characters without spaces; this API keeps them to ones that
# read plainly in the audit log and a URL path (letters, digits and . _ - @ +), starting with a letter or digit.
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"
APP_ATTRIBUTE = "custom:app_id"
LEEWAY_SECONDS = 5  # clock skew between Cognito and Lambda


class SigningKeys(Protocol):
    """Where a token's signing key comes from (PyJWT's PyJWKClient over the pool's JWKS)."""

    def get_signing_key_from_jwt(self, token: str) -> Any: ...


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def looks_like_token(bearer: str) -> bool:
    """A JWT (its header is base64url JSON, `eyJ`); API keys start with their kind's prefix."""
    return bearer.startswith("eyJ") and bearer.count(".") == 2


class IdTokenVerifier:
    """Verifies a console user's ID token and answers the Principal it stands for."""

    def __init__(self, *, issuer: str, client_id: str, keys: SigningKeys) -> None:
        self.issuer, self.client_id, self.keys = issuer, client_id, keys

    def principal(self, token: str) -> Principal:
        if not self.client_id:
            raise Unauthorized("console users are not configured on this stack")
        try:
            key = self.keys.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "token_use"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired: sign in again") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise Unauthorized("invalid token") from None
        if claims.get("token_use") != "id":
            raise Unauthorized("invalid token: not an ID token")
        return principal_from_claims(claims)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The rights of a verified token: its most powerful group, on its own app."""
    user = str(claims.get("cognito:username") or claims.get("sub") or "")
    groups = set(claims.get("cognito:groups") or [])
    role = next((name for name in BY_POWER if name in groups), None)
    app_id = str(claims.get(APP_ATTRIBUTE) or "")
    if role is None:
        raise Forbidden(f"console user {user} is in none of the groups {', '.join(BY_POWER)}")
    if not app_id:
        raise Forbidden(f"console user {user} belongs to no app ({APP_ATTRIBUTE} is not set)")
    return Principal(ROLES[role], app_id, user=user, role=role)
