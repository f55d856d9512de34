"""Routes of API keys (the admin key, or the app's own server key), served by the devices function: list,
issue and revoke, so keys rotate without downtime (several keys of a kind are valid at once). A listing
names each key by its id, kind, prefix and last four characters: never the key, nor its hash."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict

from pushengine.auth import KeyKind, key_prefix
from pushengine.errors import NotFound
from pushengine.http import ApiRouter
from pushengine.routes.devices import deps

router = ApiRouter()
AppId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
KeyId = Annotated[str, Path(pattern=r"^key_[0-9a-f]{16}$")]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["client", "server", "analytics"]


class KeyListed(BaseModel):
    key_id: str
    kind: KeyKind
    created_at: str
    prefix: str  # the key's public start, `<kind>.<app_id>.`
    last4: str | None  # the key's last four characters (None for a key issued before they were kept)


class KeyList(BaseModel):
    keys: list[KeyListed]


class KeyOut(BaseModel):
    key_id: str
    kind: str
    key: str  # shown once: only its hash is stored
    created_at: str


@router.api(
    "GET", "/v1/apps/<app_id>/keys", keys=["admin", "server"], app_param="app_id", operator=True,
    answers=[404], summary="The app's valid keys, oldest first: id, kind, prefix and last four characters, never the key",
)  # fmt: skip
def list_keys(app_id: AppId) -> KeyList:
    return KeyList(keys=[KeyListed(**k, prefix=key_prefix(k["kind"], app_id)) for k in deps.apps.list_keys(app_id)])


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
