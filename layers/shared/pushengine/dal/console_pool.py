"""The console's Cognito user pool: signing in (InitiateAuth, USER_PASSWORD_AUTH), the pool's JWKS for
verifying ID tokens, and creating console users (operators' tooling: `make serve`, tests).

The JWKS lives at the cognito-idp endpoint under the pool's id. With an endpoint override (the local
emulator, moto), that one host serves every service, so the request carries moto's documented signing
scope naming cognito-idp; AWS itself is never sent it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import jwt
from botocore.exceptions import ClientError

from pushengine.console_users import APP_ATTRIBUTE, ROLES, IdTokenVerifier, issuer
from pushengine.dal import aws
from pushengine.errors import InvalidInput, Unauthorized

JWKS_CACHE_SECONDS = 300  # Cognito rotates its signing keys rarely; a new kid refetches anyway


def cognito_endpoint(region: str) -> tuple[str, bool]:
    """(endpoint, overridden): AWS's cognito-idp endpoint, or the one the environment names."""
    override = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or os.environ.get("AWS_ENDPOINT_URL")
    return (override.rstrip("/"), True) if override else (f"https://cognito-idp.{region}.amazonaws.com", False)


def jwks_client(region: str, pool_id: str) -> jwt.PyJWKClient:
    endpoint, overridden = cognito_endpoint(region)
    scope = f"AWS4-HMAC-SHA256 Credential=local/20000101/{region}/cognito-idp/aws4_request"
    return jwt.PyJWKClient(
        f"{endpoint}/{pool_id}/.well-known/jwks.json",
        cache_jwk_set=True,
        lifespan=JWKS_CACHE_SECONDS,
        headers={"Authorization": scope} if overridden else None,
        timeout=5,
    )


@lru_cache(maxsize=4)
def console_verifier(region: str, pool_id: str, client_id: str) -> IdTokenVerifier:
    """The verifier of this pool's ID tokens, one per container (its JWKS cached inside)."""
    return IdTokenVerifier(issuer=issuer(region, pool_id), client_id=client_id, keys=jwks_client(region, pool_id))


class ConsolePool:
    def __init__(self, pool_id: str, client_id: str) -> None:
        self.pool_id, self.client_id = pool_id, client_id

    @property
    def _idp(self) -> Any:
        return aws.client("cognito-idp")

    def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """The pool's AuthenticationResult for this user name and password; Unauthorized when refused."""
        if not self.client_id:
            raise Unauthorized("console users are not configured on this stack")
        try:
            answer = self._idp.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            if aws.error_code(exc) in ("NotAuthorizedException", "UserNotFoundException",
                                       "UserNotConfirmedException", "PasswordResetRequiredException"):  # fmt: skip
                raise Unauthorized("wrong user name or password") from None
            if aws.error_code(exc) == "InvalidParameterException":
                raise InvalidInput("not a valid user name or password", field="body") from None
            raise
        result = answer.get("AuthenticationResult")
        if not result:  # a challenge (a new password, MFA): the console does not answer those yet
            raise Unauthorized(f"sign-in needs {answer.get('ChallengeName', 'a challenge')}: ask an administrator")
        return dict(result)

    def create_user(self, username: str, password: str, role: str, app_id: str) -> None:
        """A console user of this app in this role's group, with a permanent password (no first-login step)."""
        if role not in ROLES:
            raise InvalidInput(f"one of {', '.join(ROLES)}", field="role")
        idp = self._idp
        try:
            idp.admin_create_user(
                UserPoolId=self.pool_id, Username=username, MessageAction="SUPPRESS",
                UserAttributes=[{"Name": APP_ATTRIBUTE, "Value": app_id}],
            )  # fmt: skip
        except ClientError as exc:
            if aws.error_code(exc) != "UsernameExistsException":
                raise
            idp.admin_update_user_attributes(
                UserPoolId=self.pool_id, Username=username, UserAttributes=[{"Name": APP_ATTRIBUTE, "Value": app_id}]
            )
        idp.admin_set_user_password(UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True)
        idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=role)
