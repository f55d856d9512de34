"""The console's Cognito user pool: signing in (InitiateAuth, USER_PASSWORD_AUTH, and the first sign-in's
NEW_PASSWORD_REQUIRED challenge), the pool's JWKS for verifying ID tokens, and an app's console users
(AdminCreateUser with a temporary password, groups for roles, AdminDisableUser/AdminEnableUser,
AdminDeleteUser; operators' tooling also sets a permanent password: `make serve`, tests).

Cognito's errors become domain errors here, once: UsernameExistsException 409, InvalidPasswordException
and InvalidParameterException 400 naming the field, UserNotFoundException 404, TooManyRequestsException
and LimitExceededException `Contended` (503 with Retry-After, as the API answers a busy store).
ListUsers cannot filter on a custom attribute (AWS answers InvalidParameterException "Custom attributes
are not searchable"), so an app's users are read from the role groups (ListUsersInGroup, 60 a page, by
PaginationToken) and kept when their `custom:app_id` is the app's.

The JWKS lives at the cognito-idp endpoint under the pool's id. With an endpoint override (the local
emulator, moto), that one host serves every service, so the request carries moto's documented signing
scope naming cognito-idp; AWS itself is never sent it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import jwt
from botocore.exceptions import ClientError

from pushengine.console_users import APP_ATTRIBUTE, BY_POWER, ROLES, IdTokenVerifier, issuer
from pushengine.dal import aws
from pushengine.errors import Conflict, InvalidInput, NotFound, Unauthorized

JWKS_CACHE_SECONDS = 300  # Cognito rotates its signing keys rarely; a new kid refetches anyway
LIST_PAGE = 60  # ListUsers / ListUsersInGroup: at most 60 users a call
NEW_PASSWORD_REQUIRED = "NEW_PASSWORD_REQUIRED"
_BUSY = ("TooManyRequestsException", "LimitExceededException", "InternalErrorException")
_REFUSED_SIGN_IN = ("NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException",
                    "PasswordResetRequiredException")  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class SignIn:
    """What the pool answered a sign-in: its tokens (AuthenticationResult), or a challenge to answer first."""

    tokens: dict[str, Any] | None = None
    challenge: str | None = None
    session: str | None = None  # the challenge's session, handed back with the answer (valid 3 minutes)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """One console user as the pool holds it."""

    username: str
    role: str | None  # its most powerful group; None when in none
    app_id: str
    status: str  # Cognito's UserStatus: FORCE_CHANGE_PASSWORD until the first sign-in sets a password
    enabled: bool
    created: datetime


def _busy(exc: ClientError) -> None:
    """Cognito's throttling and quota refusals: the caller retries later (503 with Retry-After)."""
    if aws.error_code(exc) in _BUSY:
        raise aws.Contended(f"the user pool is busy: {aws.error_code(exc)}") from exc


def _attribute(user: dict[str, Any], name: str) -> str:
    attributes = user.get("Attributes") or user.get("UserAttributes") or []
    return next((str(a.get("Value", "")) for a in attributes if a.get("Name") == name), "")


class ConsolePool:
    def __init__(self, pool_id: str, client_id: str) -> None:
        self.pool_id, self.client_id = pool_id, client_id

    @property
    def _idp(self) -> Any:
        return aws.client("cognito-idp")

    def _configured(self) -> None:
        if not self.client_id or not self.pool_id:
            raise Unauthorized("console users are not configured on this stack")

    def sign_in(self, username: str, password: str) -> SignIn:
        """The pool's tokens for this user name and password, or the challenge it sets first (a user made
        with a temporary password: NEW_PASSWORD_REQUIRED); Unauthorized when refused (disabled included)."""
        self._configured()
        try:
            answer = self._idp.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            _busy(exc)
            if aws.error_code(exc) in _REFUSED_SIGN_IN:
                raise Unauthorized("wrong user name or password") from None
            if aws.error_code(exc) == "InvalidParameterException":
                raise InvalidInput("not a valid user name or password", field="body") from None
            raise
        return self._signed_in(answer)

    def _signed_in(self, answer: dict[str, Any]) -> SignIn:
        result = answer.get("AuthenticationResult")
        if result:
            return SignIn(tokens=dict(result))
        challenge = str(answer.get("ChallengeName") or "")
        if challenge != NEW_PASSWORD_REQUIRED:  # MFA and the like: this pool does not set them
            raise Unauthorized(f"sign-in needs {challenge or 'a challenge'}: ask an administrator")
        return SignIn(challenge=challenge, session=str(answer.get("Session") or ""))

    def set_new_password(self, username: str, session: str, new_password: str) -> SignIn:
        """Answer the NEW_PASSWORD_REQUIRED challenge (RespondToAuthChallenge): the tokens of a normal sign-in."""
        self._configured()
        try:
            answer = self._idp.respond_to_auth_challenge(
                ClientId=self.client_id,
                ChallengeName=NEW_PASSWORD_REQUIRED,
                Session=session,
                ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": new_password},
            )
        except ClientError as exc:
            _busy(exc)
            code = aws.error_code(exc)
            if code == "InvalidPasswordException":
                raise InvalidInput(_policy_reason(exc), field="new_password") from None
            # AWS: NotAuthorizedException "Invalid session for the user"; moto: ResourceNotFoundException
            if code in (*_REFUSED_SIGN_IN, "CodeMismatchException", "ExpiredCodeException", "ResourceNotFoundException"):
                raise Unauthorized("the sign-in session is not valid or has expired: sign in again") from None
            if code == "InvalidParameterException":
                raise InvalidInput("not a sign-in session of this user", field="session") from None
            raise
        signed = self._signed_in(answer)
        if signed.tokens is None:
            raise Unauthorized("sign-in needs another challenge: ask an administrator")
        return signed

    # ---------- an app's console users (administrators) ----------
    def invite(self, username: str, role: str, app_id: str, temporary_password: str) -> ConsoleUser:
        """A new console user of this app in this role, who sets a password of its own at first sign-in
        (AdminCreateUser, MessageAction SUPPRESS: the administrator hands the temporary password over)."""
        if role not in ROLES:
            raise InvalidInput(f"one of {', '.join(ROLES)}", field="role")
        try:
            made = self._idp.admin_create_user(
                UserPoolId=self.pool_id, Username=username, TemporaryPassword=temporary_password,
                MessageAction="SUPPRESS", UserAttributes=[{"Name": APP_ATTRIBUTE, "Value": app_id}],
            )["User"]  # fmt: skip
        except ClientError as exc:
            _busy(exc)
            code = aws.error_code(exc)
            if code == "UsernameExistsException":
                raise Conflict(f"a console user named {username} exists", field="username") from None
            if code == "InvalidPasswordException":
                raise InvalidInput(_policy_reason(exc), field="temporary_password") from None
            if code == "InvalidParameterException":
                raise InvalidInput("not a valid user name", field="username") from None
            raise
        try:
            self._group(username, role, add=True)
        except BaseException:  # a user in no group has no rights: do not leave one behind
            self._idp.admin_delete_user(UserPoolId=self.pool_id, Username=username)
            raise
        return self._record(made, role, app_id)

    def users(self, app_id: str) -> list[ConsoleUser]:
        """This app's console users, by name, each with its most powerful role."""
        found: dict[str, ConsoleUser] = {}
        for role in BY_POWER:  # most powerful first: a user in two groups keeps the first
            for user in self._group_members(role):
                name = str(user["Username"])
                if name not in found and _attribute(user, APP_ATTRIBUTE) == app_id:
                    found[name] = self._record(user, role, app_id)
        return sorted(found.values(), key=lambda u: u.username)

    def user(self, app_id: str, username: str) -> ConsoleUser:
        """One console user of this app; NotFound when there is none by that name in this app."""
        try:
            got = self._idp.admin_get_user(UserPoolId=self.pool_id, Username=username)
            groups = self._idp.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=username, Limit=60)
        except ClientError as exc:
            _busy(exc)
            if aws.error_code(exc) == "UserNotFoundException":
                raise NotFound(f"no console user {username} in this app", field="username") from None
            raise
        if _attribute(got, APP_ATTRIBUTE) != app_id:  # another app's user reads as no user at all
            raise NotFound(f"no console user {username} in this app", field="username")
        names = {str(g.get("GroupName")) for g in groups.get("Groups") or []}
        role = next((r for r in BY_POWER if r in names), None)
        return self._record(got, role, app_id)

    def change(self, app_id: str, username: str, *, role: str | None = None, enabled: bool | None = None) -> ConsoleUser:
        """Move a user of this app to another role and/or disable or enable it."""
        current = self.user(app_id, username)
        if role is not None and role not in ROLES:
            raise InvalidInput(f"one of {', '.join(ROLES)}", field="role")
        try:
            if role is not None and role != current.role:
                self._group(username, role, add=True)
                for other in BY_POWER:
                    if other != role:
                        self._group(username, other, add=False)
            if enabled is not None and enabled != current.enabled:
                toggle = self._idp.admin_enable_user if enabled else self._idp.admin_disable_user
                toggle(UserPoolId=self.pool_id, Username=username)
        except ClientError as exc:
            _busy(exc)
            if aws.error_code(exc) == "UserNotFoundException":  # deleted meanwhile
                raise NotFound(f"no console user {username} in this app", field="username") from None
            raise
        return self.user(app_id, username)

    def remove(self, app_id: str, username: str) -> None:
        """Delete a user of this app (AdminDeleteUser)."""
        self.user(app_id, username)
        try:
            self._idp.admin_delete_user(UserPoolId=self.pool_id, Username=username)
        except ClientError as exc:
            _busy(exc)
            if aws.error_code(exc) == "UserNotFoundException":
                raise NotFound(f"no console user {username} in this app", field="username") from None
            raise

    def _group(self, username: str, role: str, *, add: bool) -> None:
        call = self._idp.admin_add_user_to_group if add else self._idp.admin_remove_user_from_group
        try:
            call(UserPoolId=self.pool_id, Username=username, GroupName=role)
        except ClientError as exc:
            _busy(exc)
            raise

    def _group_members(self, role: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            try:
                page = self._idp.list_users_in_group(
                    UserPoolId=self.pool_id, GroupName=role, Limit=LIST_PAGE, **({"NextToken": token} if token else {})
                )
            except ClientError as exc:
                _busy(exc)
                raise
            yield from page.get("Users") or []
            token = page.get("NextToken")
            if not token:
                return

    @staticmethod
    def _record(user: dict[str, Any], role: str | None, app_id: str) -> ConsoleUser:
        return ConsoleUser(
            username=str(user["Username"]), role=role, app_id=app_id, status=str(user.get("UserStatus", "")),
            enabled=bool(user.get("Enabled", True)), created=user["UserCreateDate"],
        )  # fmt: skip

    # ---------- operators' tooling ----------
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


def _policy_reason(exc: ClientError) -> str:
    """Cognito's own words on what the password lacks (they name the policy, never the password)."""
    message = str(exc.response.get("Error", {}).get("Message") or "")
    return message or "does not meet the user pool's password policy"
