"""Routes of templates (server key), served by the campaigns function."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from pushengine import idempotency, templates
from pushengine.auth import READERS
from pushengine.dal.templates import TemplatesRepository
from pushengine.http import ApiRouter, caller

TemplateId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
router = ApiRouter()
store = templates.default_store  # the function's one repository (pushengine.bootstrap)


def _app_id() -> str:
    return str(caller().app_id)


def _store() -> TemplatesRepository:
    return store()


@router.api(
    "POST", "/v1/templates", keys=["server"], status=201, answers=[409, 422],
    summary="Store a message {name, message} (Idempotency-Key honoured)",
)  # fmt: skip
def create_template(body: templates.TemplateIn) -> Response[templates.TemplateOut]:
    app_id = _app_id()

    def make() -> tuple[int, dict]:
        return 201, templates.create(_store(), app_id, body).model_dump(mode="json")

    return idempotency.answer(router, "POST /v1/templates", body, make)


@router.api("GET", "/v1/templates", keys=READERS, summary="Every template of the app")
def list_templates() -> templates.TemplatePage:
    return templates.TemplatePage(
        templates=[templates.TemplateOut.model_validate(t) for t in _store().all(_app_id())]
    )


@router.api("GET", "/v1/templates/<template_id>", keys=READERS, answers=[404], summary="One template")
def get_template(template_id: TemplateId) -> templates.TemplateOut:
    return templates.get(_store(), _app_id(), template_id)


@router.api(
    "PUT", "/v1/templates/<template_id>", keys=["server"], answers=[404],
    summary="Replace a template (campaigns already created keep the copy they made)",
)  # fmt: skip
def put_template(template_id: TemplateId, body: templates.TemplateIn) -> templates.TemplateOut:
    return templates.replace(_store(), _app_id(), template_id, body)


@router.api("DELETE", "/v1/templates/<template_id>", keys=["server"], status=204, answers=[404],
            summary="Delete a template")  # fmt: skip
def delete_template(template_id: TemplateId) -> Response[None]:
    templates.remove(_store(), _app_id(), template_id)
    return Response(status_code=204)
