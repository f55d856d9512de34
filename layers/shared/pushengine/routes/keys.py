"""Routes of API keys (the admin key, or the app's own server key), served by the devices function: issue
and revoke, so keys rotate without downtime (several keys of a kind are valid at once)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict

from pushengine.errors import NotFound
from pushengine.http import ApiRouter
from pushengine.routes.devices import deps

router = ApiRouter()
AppId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
KeyId = Annotated[str, Path(pattern=r"^key_[0-9a-f]{16}$")]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["client", "server", "analytics"]


class KeyOut(BaseModel):
    key_id: str
    kind: str
    key: str  # shown once: only its hash is stored
    created_at: str


@router.api(
    "POST", "/v1/apps/<app_id>/keys", keys=["admin", "server"], app_param="app_id", operator=True,
    status=201, answers=[404],
    summary="Issue another client, server or analytics (read-only) key (the key is shown once)",
)  # fmt: skip
def issue_key(app_id: AppId, body: KeyIn) -> Response[KeyOut]:
    key_id, key, created_at = deps.apps.add_key(app_id, body.kind)
    out = KeyOut(key_id=key_id, kind=body.kind, key=key, created_at=created_at)
    return Response(201, content_types.APPLICATION_JSON, out)


@router.api(
    "DELETE", "/v1/apps/<app_id>/keys/<key_id>", keys=["admin", "server"], app_param="app_id", operator=True,
    status=204, answers=[404],
    summary="Revoke a key (stops working within 30 s everywhere)",
)  # fmt: skip
def revoke_key(app_id: AppId, key_id: KeyId) -> Response[None]:
    if not deps.apps.revoke_key(app_id, key_id):
        raise NotFound("no such key", field="key_id")
    return Response(status_code=204)
