"""Templates: stored messages (Liquid and localizations), validated like a campaign's message. Campaigns
and direct sends name one by `template_id` and copy it when they are created, so a later edit never
changes what a running campaign sends."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from pushengine import compose
from pushengine.content import Message
from pushengine.dal.templates import TemplatesRepository
from pushengine.errors import InvalidInput, NotFound


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    message: Message


class TemplateOut(BaseModel):
    template_id: str
    name: str
    message: dict[str, Any]
    created_at: str
    updated_at: str


class TemplatePage(BaseModel):
    templates: list[TemplateOut]


def default_store() -> TemplatesRepository:
    from pushengine.bootstrap import adapters

    return adapters().templates


def _check(body: TemplateIn, template_id: str) -> dict[str, Any]:
    compose.check(body.message, template_id, prefix="body.message")
    return body.message.model_dump(mode="json", exclude_none=True)


def create(store: TemplatesRepository, app_id: str, body: TemplateIn) -> TemplateOut:
    template_id = "tpl_" + secrets.token_hex(8)
    saved = store.put(app_id, template_id, body.name, _check(body, template_id), create=True)
    assert saved is not None  # 64 random bits: never taken
    return TemplateOut.model_validate(saved)


def replace(store: TemplatesRepository, app_id: str, template_id: str, body: TemplateIn) -> TemplateOut:
    saved = store.put(app_id, template_id, body.name, _check(body, template_id), create=False)
    if saved is None:
        raise NotFound("template not found", field="template_id")
    return TemplateOut.model_validate(saved)


def get(store: TemplatesRepository, app_id: str, template_id: str) -> TemplateOut:
    found = store.get(app_id, template_id)
    if found is None:
        raise NotFound("template not found", field="template_id")
    return TemplateOut.model_validate(found)


def remove(store: TemplatesRepository, app_id: str, template_id: str) -> None:
    if not store.delete(app_id, template_id):
        raise NotFound("template not found", field="template_id")


def resolve(store: TemplatesRepository, app_id: str, template_id: str) -> dict[str, Any]:
    """The message a template holds now (copied by the campaign or send naming it), or a 400."""
    found = store.get(app_id, template_id)
    if found is None:
        raise InvalidInput("no template with this id", field="body.template_id")
    return dict(found["message"])
