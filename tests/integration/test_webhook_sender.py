"""The webhook step's HTTP adapter against real servers on 127.0.0.1: a signed POST the receiver stand-in
verifies, a redirect answered and never followed, a timeout and a refused connection as no answer, a 429's
Retry-After read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.standins._server import LocalHTTPServer, Request, Response
from local.standins.webhook import WebhookStandIn
from pushengine.journeys import webhook
from pushengine.providers.webhook import HttpWebhookSender

pytestmark = pytest.mark.integration
WALL = 1_796_644_800  # the receiver's clock and the signature's timestamp, both fixed


@pytest.fixture
def hooks() -> Iterator[WebhookStandIn]:
    with WebhookStandIn(clock=lambda: float(WALL)) as stand_in:
        yield stand_in


def signed(secret: str, payload: bytes, stamp: int = WALL) -> dict[str, str]:
    return webhook.headers(secret, payload, stamp, "jrn1:dev1#tell#1.1")


def test_a_signed_post_is_verified_by_the_receiver_and_a_wrong_secret_refused(hooks: WebhookStandIn) -> None:
    sender = HttpWebhookSender()
    url = hooks.endpoint("whsec_right")
    payload = webhook.body("jrn1", "dev1", None, "tell")
    assert sender.post(url, payload, signed("whsec_right", payload)).status == 200
    assert sender.post(url, payload, signed("whsec_wrong", payload)).status == 401
    assert sender.post(url, payload, signed("whsec_right", payload, WALL - 3600)).status == 401  # too old
    ok, wrong, old = hooks.received(url)
    assert (ok.verified, wrong.verified, old.verified) == (True, False, False)
    assert ok.delivery == "jrn1:dev1#tell#1.1" and ok.body == {"journey_id": "jrn1", "device_id": "dev1",
                                                               "user_id": None, "step": "tell"}  # fmt: skip


def test_a_redirect_is_an_answer_never_followed() -> None:
    followed: list[str] = []

    def route(request: Request) -> Response:
        followed.append(request.path)
        return Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})

    with LocalHTTPServer(route) as server:
        answer = HttpWebhookSender().post(f"{server.base_url}/hook", b"{}", {})
    assert answer.status == 302 and followed == ["/hook"]
    assert webhook.outcome(answer, 1) == "failed"


def test_a_timeout_and_a_refused_connection_are_no_answer_and_retried() -> None:
    with LocalHTTPServer(lambda request: Response(200), latency=1.0) as slow:
        late = HttpWebhookSender(timeout=0.2).post(f"{slow.base_url}/hook", b"{}", {})
        port = slow.port
    assert (late.status, late.error) == (None, "timed out")
    refused = HttpWebhookSender(timeout=0.5).post(f"http://127.0.0.1:{port}/hook", b"{}", {})
    assert refused.status is None and refused.error
    assert webhook.outcome(late, 1) == webhook.outcome(refused, 1) == "retry"


def test_a_429s_retry_after_is_read() -> None:
    with LocalHTTPServer(lambda request: Response(429, headers={"Retry-After": "120"})) as server:
        answer = HttpWebhookSender().post(f"{server.base_url}/hook", b"{}", {})
    assert (answer.status, answer.retry_after) == (429, 120.0)
