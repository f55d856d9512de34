"""Routes of direct sends (server key), served by the campaigns function."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from pushengine import idempotency, messages, templates
from pushengine.bootstrap import Adapters, view
from pushengine.http import ApiRouter, caller
from pushengine.routes.campaigns import deps as campaign_deps

MessageId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
router = ApiRouter()


def _messages(_: object, a: Adapters) -> messages.MessageDeps:
    c, store = campaign_deps.campaign, a.templates
    return messages.MessageDeps(
        settings=c.settings, campaigns=c.campaigns, devices=c.devices, scheduler=c.scheduler,
        resolve_template=lambda app_id, template_id: templates.resolve(store, app_id, template_id),
        apps=c.apps,
    )  # fmt: skip


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    messages = view(_messages)


deps = Deps()


@router.api(
    "POST", "/v1/messages", keys=["server"], status=202, answers=[409, 422],
    summary="Send one message now to ≤ 1,000 users or devices (Idempotency-Key honoured)",
)  # fmt: skip
def send_message(body: messages.MessageIn) -> Response[messages.MessageAccepted]:
    app_id = str(caller().app_id)

    def make() -> tuple[int, dict]:
        return 202, messages.send(deps.messages, app_id, body).model_dump(mode="json")

    return idempotency.answer(router, "POST /v1/messages", body, make)


@router.api(
    "GET", "/v1/messages/<message_id>", keys=["server"], answers=[404],
    summary="A direct send's status and each recipient's outcome",
)  # fmt: skip
def get_message(message_id: MessageId) -> messages.MessageOut:
    return messages.get_message(deps.messages.campaigns, str(caller().app_id), message_id)
