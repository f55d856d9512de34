"""Console ID tokens: only a token signed by the pool's key, for the console's client, an ID token not yet
expired, gets rights; its group decides them and `custom:app_id` its app. Key kinds and roles per route."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from pushengine import audit
from pushengine.auth import Principal, require
from pushengine.console_users import IdTokenVerifier, issuer, looks_like_token
from pushengine.errors import Forbidden, Unauthorized
from pushengine.routes.console_users import temporary_password
from samlocal.strict import password_problem

pytestmark = pytest.mark.unit

POOL, CLIENT = "us-east-1_pool", "console-client"
POOL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = 1_800_000_000


class PoolKeys:
    """The pool's JWKS as PyJWKClient answers it: the signing key of a token's `kid`."""

    def get_signing_key_from_jwt(self, token: str) -> Any:
        if jwt.get_unverified_header(token).get("kid") != "pool":
            raise jwt.PyJWKClientError("Unable to find a signing key that matches")
        public = jwt.algorithms.RSAAlgorithm.to_jwk(POOL_KEY.public_key(), as_dict=True)
        return jwt.PyJWK.from_dict(public | {"alg": "RS256"})


def token(key: Any = POOL_KEY, kid: str = "pool", **claims: Any) -> str:
    body = {"iss": issuer("us-east-1", POOL), "aud": CLIENT, "token_use": "id", "exp": NOW + 3600,
            "cognito:username": "mia", "cognito:groups": ["marketer"], "custom:app_id": "app_a"} | claims
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def verifier(time_machine: Any) -> IdTokenVerifier:
    time_machine.move_to(datetime.fromtimestamp(NOW, UTC), tick=False)
    return IdTokenVerifier(issuer=issuer("us-east-1", POOL), client_id=CLIENT, keys=PoolKeys())


def test_a_pool_token_gets_its_groups_rights_on_its_app(verifier: IdTokenVerifier) -> None:
    principal = verifier.principal(token())
    assert principal == Principal("marketer", "app_a") and (principal.user, principal.role) == ("mia", "marketer")
    assert principal.actor() == {"kind": "console", "user": "mia", "role": "marketer"}
    assert verifier.principal(token(**{"cognito:groups": ["admin"]})) == Principal("server", "app_a")
    assert verifier.principal(token(**{"cognito:groups": ["analyst"]})) == Principal("analytics", "app_a")
    both = verifier.principal(token(**{"cognito:groups": ["analyst", "admin"]}))
    assert both.role == "admin"  # the most powerful group
    assert looks_like_token(token()) and not looks_like_token("pes.app_a.secret")


@pytest.mark.parametrize(
    ("made", "reason"),
    [
        (lambda: token(exp=NOW - 60), "token expired: sign in again"),
        (lambda: token(aud="another-client"), "invalid token"),
        (lambda: token(iss=issuer("us-east-1", "us-east-1_other")), "invalid token"),
        (lambda: token(token_use="access"), "invalid token: not an ID token"),
        (lambda: token(token_use=None), "invalid token"),
        (lambda: token(exp=None), "invalid token"),
        (lambda: token(key=OTHER_KEY), "invalid token"),  # the pool's kid, another key
        (lambda: token(key=OTHER_KEY, kid="mine"), "invalid token"),  # a key the pool does not have
        (lambda: jwt.encode({"aud": CLIENT}, key=None, algorithm="none", headers={"kid": "pool"}), "invalid token"),
        (lambda: token()[:-4] + "AAAA", "invalid token"),
    ],
)
def test_anything_else_is_unauthorized(verifier: IdTokenVerifier, made: Any, reason: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        verifier.principal(made())
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("claims", "reason"),
    [({"cognito:groups": None}, "in none of the groups"), ({"cognito:groups": ["viewer"]}, "in none of the groups"),
     ({"custom:app_id": None}, "belongs to no app")],
)  # fmt: skip
def test_a_valid_token_without_a_role_or_an_app_is_forbidden(
    verifier: IdTokenVerifier, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Forbidden, match=reason):
        verifier.principal(token(**claims))


def test_without_a_configured_pool_no_token_passes() -> None:
    with pytest.raises(Unauthorized, match="not configured"):
        IdTokenVerifier(issuer="", client_id="", keys=PoolKeys()).principal(token())


def test_rights_per_kind_and_role() -> None:
    marketer = Principal("marketer", "app_a", user="mia", role="marketer")
    assert require(marketer, "server", app_id="app_a")
    with pytest.raises(Forbidden, match="the marketer role may not"):
        require(marketer, "server", app_id="app_a", operator=True)  # credentials, keys, settings, audit
    with pytest.raises(Forbidden, match="an analytics key may not"):
        require(Principal("analytics", "app_a"), "server")
    assert require(Principal("analytics", "app_a"), "server", "analytics")
    assert require(Principal("admin"), "admin", "server", app_id="app_b", operator=True)  # every app's
    with pytest.raises(Forbidden):
        require(Principal("server", "app_a"), "admin", "server", app_id="app_b", operator=True)


def test_an_audit_entry_names_the_actor_and_target_and_pseudonymises_people() -> None:
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    key = Principal("server", "app_a", key_id="key_0123456789abcdef")
    entry = audit.entry(key, "DELETE /v1/users/{user_id}", {"user_id": "alice@example.com"}, 202, "{}", at)
    assert entry == {"at": "2026-12-07T09:30:00.000Z", "actor": {"kind": "server", "key_id": "key_0123456789abcdef"},
                     "action": "DELETE /v1/users/{user_id}",
                     "target": f"user_id:{audit.pseudonym('app_a', 'alice@example.com')}", "status": 202}  # fmt: skip
    assert "alice" not in str(entry)
    created = audit.entry(key, "POST /v1/campaigns", {}, 201, '{"campaign_id": "cmp_1", "status": "scheduled"}', at)
    assert created["target"] == "campaign_id:cmp_1"
    assert audit.entry(key, "POST /v1/campaigns", {}, 403, '{"message": "no"}', at)["target"] == ""
    assert audit.changes("PATCH /v1/campaigns/{campaign_id}") and not audit.changes("GET /v1/audit")
    # what is created under a path names both: the path's ids, then the created one
    user = audit.entry(key, "POST /v1/apps/{app_id}/console-users", {"app_id": "app_a"}, 201,
                       '{"username": "ana", "role": "analyst"}', at)  # fmt: skip
    assert user["target"] == "app_id:app_a,username:ana"
    changed = audit.entry(key, "PATCH /v1/apps/{app_id}/console-users/{username}",
                          {"app_id": "app_a", "username": "ana"}, 200, '{"username": "ana"}', at)  # fmt: skip
    assert changed["target"] == "app_id:app_a,username:ana"


def test_a_made_temporary_password_meets_the_strictest_policy_a_pool_may_set() -> None:
    made = {temporary_password() for _ in range(50)}
    assert len(made) == 50
    strictest = {"MinimumLength": 32, "RequireLowercase": True, "RequireUppercase": True, "RequireNumbers": True,
                 "RequireSymbols": True}  # fmt: skip
    assert all(password_problem(p, strictest) is None for p in made)
