"""Routes of the audit log and the console's sign-in, served by the devices function."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from pushengine.config import settings
from pushengine.dal.audit import AuditRepository
from pushengine.dal.console_pool import ConsolePool, console_verifier
from pushengine.errors import NotFound
from pushengine.http import ApiRouter, caller


class Deps:
    @cached_property
    def audit(self) -> AuditRepository:
        if not settings().audit_table:
            raise NotFound("this stack keeps no audit log")
        return AuditRepository(settings().audit_table)

    @cached_property
    def pool(self) -> ConsolePool:
        return ConsolePool(settings().console_user_pool_id, settings().console_client_id)


deps = Deps()
router = ApiRouter()


class KeyActor(BaseModel):
    kind: str  # the key's kind: admin, server, analytics
    key_id: str  # the key's public id (as DELETE /v1/apps/{app_id}/keys/{key_id} names it); "admin"


class ConsoleActor(BaseModel):
    kind: Literal["console"]
    user: str
    role: str  # admin, marketer, analyst


class AuditEntry(BaseModel):
    at: str
    actor: ConsoleActor | KeyActor
    action: str  # the route: "POST /v1/campaigns"
    target: str  # "campaign_id:cmp_…"; person ids pseudonymised
    status: int


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_token: str | None = None


@router.api(
    "GET", "/v1/audit", keys=["server"], operator=True,
    summary="The audit log: who changed what (keys and console users), newest first, kept 400 days",
)  # fmt: skip
def list_audit(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
) -> AuditPage:
    entries, token = deps.audit.page(str(caller().app_id), limit=limit, next_token=next_token)
    return AuditPage.model_validate({"entries": entries, "next_token": token})


# ---------- console sign-in ----------
class SessionIn(BaseModel):
    # Cognito's bounds: a user name is 1-128 characters, a password at most 256
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128, pattern=r"^[\S]+$")
    password: str = Field(min_length=1, max_length=256)


class SessionOut(BaseModel):
    id_token: str  # `Authorization: Bearer <id_token>` on every API call
    expires_in: int
    user: str
    role: str
    app_id: str


@router.api(
    "POST", "/v1/console/session", keys=[], answers=[401, 403], audited=False,
    summary="Sign a console user in (user name and password, checked by the Cognito user pool): its ID token",
)  # fmt: skip
def sign_in(body: SessionIn) -> SessionOut:
    result = deps.pool.sign_in(body.username, body.password)
    token = str(result["IdToken"])
    s = settings()
    verifier = console_verifier(s.aws_region, s.console_user_pool_id, s.console_client_id)
    principal = verifier.principal(token)  # the rights the API will give it: 403 when none
    expires_in = int(result.get("ExpiresIn", 3600))
    return SessionOut(id_token=token, expires_in=expires_in, user=str(principal.user),
                      role=str(principal.role), app_id=str(principal.app_id))  # fmt: skip
