"""Routes of console users, served by the devices function: signing in (and the first sign-in's new
password), and an app's console users managed by its administrators (the app's server key, a console
`admin` of the app, or the admin key), each change in the audit log. The Cognito pool answers everything
(`dal.console_pool`); a user of another app reads as no user."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field

from pushengine.auth import Kind
from pushengine.bootstrap import view
from pushengine.console_users import USERNAME_PATTERN
from pushengine.dal.console_pool import ConsoleUser, SignIn
from pushengine.http import ApiRouter

router = ApiRouter()
AppId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Username = Annotated[str, Path(pattern=USERNAME_PATTERN)]
Role = Literal["admin", "marketer", "analyst"]
MANAGERS: tuple[Kind, ...] = ("admin", "server")  # the admin key, the app's server key and (as it) a console admin


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    pool = view(lambda _, a: a.console_pool)
    verifier = view(lambda _, a: a.console_verifier)


deps = Deps()


# ---------- signing in ----------
class SessionIn(BaseModel):
    # Cognito's bounds: a user name is 1-128 characters, a password at most 256
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128, pattern=r"^[\S]+$")
    password: str = Field(min_length=1, max_length=256)


class NewPasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128, pattern=r"^[\S]+$")
    session: str = Field(min_length=20, max_length=2048)  # Cognito's bounds on a challenge session
    new_password: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    """Signed in (`id_token` …), or a challenge to answer first: `challenge` NEW_PASSWORD_REQUIRED and the
    `session` to hand back to POST /v1/console/session/new-password (valid 3 minutes)."""

    id_token: str | None = None  # `Authorization: Bearer <id_token>` on every API call
    expires_in: int | None = None
    user: str
    role: str | None = None
    app_id: str | None = None
    challenge: Literal["NEW_PASSWORD_REQUIRED"] | None = None
    session: str | None = None


def _session(username: str, signed: SignIn) -> SessionOut:
    if signed.tokens is None:
        return SessionOut(user=username, challenge="NEW_PASSWORD_REQUIRED", session=signed.session)
    token = str(signed.tokens["IdToken"])
    principal = deps.verifier.principal(token)  # the rights the API will give it: 403 when none
    return SessionOut(id_token=token, expires_in=int(signed.tokens.get("ExpiresIn", 3600)), user=str(principal.user),
                      role=str(principal.role), app_id=str(principal.app_id))  # fmt: skip


@router.api(
    "POST", "/v1/console/session", keys=[], answers=[401, 403], audited=False,
    summary="Sign a console user in (user name and password, checked by the Cognito user pool): its ID "
            "token, or the NEW_PASSWORD_REQUIRED challenge of a first sign-in with a temporary password",
)  # fmt: skip
def sign_in(body: SessionIn) -> SessionOut:
    return _session(body.username, deps.pool.sign_in(body.username, body.password))


@router.api(
    "POST", "/v1/console/session/new-password", keys=[], answers=[401, 403], audited=False,
    summary="Answer the first sign-in's NEW_PASSWORD_REQUIRED challenge with a password of the user's own: "
            "its ID token, as a sign-in answers",
)  # fmt: skip
def set_new_password(body: NewPasswordIn) -> SessionOut:
    return _session(body.username, deps.pool.set_new_password(body.username, body.session, body.new_password))


# ---------- an app's console users ----------
class ConsoleUserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN, description="letters, digits and . _ - @ +; at most 128")
    role: Role
    # the user replaces it at first sign-in; made (and answered once) when not given
    temporary_password: str | None = Field(default=None, min_length=6, max_length=256)


class ConsoleUserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    enabled: bool | None = None


class ConsoleUserOut(BaseModel):
    username: str
    role: str | None  # None: in no group, so without rights
    status: str  # FORCE_CHANGE_PASSWORD until the first sign-in sets a password, then CONFIRMED
    enabled: bool
    created: datetime


class CreatedConsoleUserOut(ConsoleUserOut):
    temporary_password: str  # shown once: hand it to the user, who replaces it at first sign-in


class ConsoleUsersOut(BaseModel):
    users: list[ConsoleUserOut]


def _out(user: ConsoleUser) -> ConsoleUserOut:
    return ConsoleUserOut(username=user.username, role=user.role, status=user.status, enabled=user.enabled,
                          created=user.created)  # fmt: skip


def temporary_password() -> str:
    """A temporary password that any pool policy of up to 32 characters takes: each character class, random."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "^$*.[]{}()?-!@#%&")
    chosen = [secrets.choice(c) for c in classes] + [secrets.choice(string.ascii_letters + string.digits)
                                                      for _ in range(28)]  # fmt: skip
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


@router.api(
    "GET", "/v1/apps/<app_id>/console-users", keys=MANAGERS, app_param="app_id", operator=True,
    summary="The app's console users: name, role, status (FORCE_CHANGE_PASSWORD until the first sign-in), "
            "enabled, created",
)  # fmt: skip
def list_console_users(app_id: AppId) -> ConsoleUsersOut:
    return ConsoleUsersOut(users=[_out(u) for u in deps.pool.users(app_id)])


@router.api(
    "POST", "/v1/apps/<app_id>/console-users", keys=MANAGERS, app_param="app_id", operator=True,
    status=201, answers=[409],
    summary="Create a console user of the app in a role, with a temporary password (answered once) that the "
            "user replaces at first sign-in; no message is sent",
)  # fmt: skip
def create_console_user(app_id: AppId, body: ConsoleUserIn) -> Response[CreatedConsoleUserOut]:
    password = body.temporary_password or temporary_password()
    made = deps.pool.invite(body.username, body.role, app_id, password)
    out = CreatedConsoleUserOut(**_out(made).model_dump(), temporary_password=password)
    return Response(201, content_types.APPLICATION_JSON, out)


@router.api(
    "PATCH", "/v1/apps/<app_id>/console-users/<username>", keys=MANAGERS, app_param="app_id", operator=True,
    answers=[404],
    summary="Change a console user's role, or disable (its sign-in is refused) or enable it",
)  # fmt: skip
def change_console_user(app_id: AppId, username: Username, body: ConsoleUserPatch) -> ConsoleUserOut:
    return _out(deps.pool.change(app_id, username, role=body.role, enabled=body.enabled))


@router.api(
    "DELETE", "/v1/apps/<app_id>/console-users/<username>", keys=MANAGERS, app_param="app_id", operator=True,
    status=204, answers=[404],
    summary="Delete a console user",
)  # fmt: skip
def delete_console_user(app_id: AppId, username: Username) -> Response[None]:
    deps.pool.remove(app_id, username)
    return Response(status_code=204)
