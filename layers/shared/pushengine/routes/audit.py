"""Routes of the audit log, served by the devices function."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from pushengine.bootstrap import Adapters, view
from pushengine.dal.audit import AuditRepository
from pushengine.errors import NotFound
from pushengine.http import ApiRouter, caller


def _audit(_: object, adapters: Adapters) -> AuditRepository:
    if adapters.audit is None:
        raise NotFound("this stack keeps no audit log")
    return adapters.audit


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    audit = view(_audit)


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
