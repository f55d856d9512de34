"""map_response: every documented FCM v1 answer mapped to what the sender must do."""

from typing import Any

import pytest

from pushengine.providers.base import Outcome, SendResult
from pushengine.providers.fcm import FCM_ERROR_TYPE, map_response

pytestmark = pytest.mark.unit


def rpc(
    code: int, status: str, error_code: str | None = None, *, message: str = "m", field: str | None = None
) -> dict[str, Any]:
    violations = [{"field": field, "description": message}] if field else []
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}
    ]
    if error_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


# FCM's documented answer for a bad token (firebase.google.com/docs/cloud-messaging/error-codes, example 2)
BAD_TOKEN = {"error": {"code": 400, "message": "The registration token is not a valid FCM registration token",
                       "status": "INVALID_ARGUMENT",
                       "details": [{"@type": FCM_ERROR_TYPE, "errorCode": "INVALID_ARGUMENT"}]}}  # fmt: skip


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "expected"),
    [
        (200, {"name": "projects/p/messages/1"}, None, SendResult(Outcome.SENT, 200)),
        (404, rpc(404, "NOT_FOUND", "UNREGISTERED"), None, SendResult(Outcome.PRUNED, 404, "UNREGISTERED")),
        (404, None, None, SendResult(Outcome.PRUNED, 404, "UNREGISTERED")),
        (
            400,
            rpc(400, "INVALID_ARGUMENT", "UNREGISTERED"),
            None,
            SendResult(Outcome.PRUNED, 400, "UNREGISTERED"),
        ),
        (
            400,
            rpc(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
            None,
            SendResult(Outcome.FAILED, 400, "INVALID_ARGUMENT"),
        ),
        (400, rpc(400, "INVALID_ARGUMENT"), None, SendResult(Outcome.FAILED, 400, "INVALID_ARGUMENT")),
        # the token itself is bad: prune (a payload's INVALID_ARGUMENT, above and below, never prunes)
        (400, BAD_TOKEN, None, SendResult(Outcome.PRUNED, 400, "INVALID_ARGUMENT")),
        (
            400,
            rpc(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                message="Invalid value at 'message.token'",
                field="message.token",
            ),
            None,
            SendResult(Outcome.PRUNED, 400, "INVALID_ARGUMENT"),
        ),
        (
            400,
            rpc(
                400,
                "INVALID_ARGUMENT",
                message="Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
                field="message.data[0].value",
            ),
            None,
            SendResult(Outcome.FAILED, 400, "INVALID_ARGUMENT"),
        ),
        (
            400,
            rpc(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", message="Message is too big"),
            None,
            SendResult(Outcome.FAILED, 400, "INVALID_ARGUMENT"),
        ),
        (
            403,
            rpc(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
            None,
            SendResult(Outcome.PRUNED, 403, "SENDER_ID_MISMATCH"),
        ),
        # our own credentials lack the permission: the message fails, the device stays
        (403, rpc(403, "PERMISSION_DENIED"), None, SendResult(Outcome.FAILED, 403, "PERMISSION_DENIED")),
        (
            401,
            rpc(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
            None,
            SendResult(Outcome.FAILED, 401, "THIRD_PARTY_AUTH_ERROR"),
        ),
        (401, rpc(401, "UNAUTHENTICATED"), None, SendResult(Outcome.RETRY, 401, "UNAUTHENTICATED")),
        (
            429,
            rpc(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
            "10",
            SendResult(Outcome.RETRY, 429, "QUOTA_EXCEEDED", 60.0),
        ),
        (
            429,
            rpc(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
            "120",
            SendResult(Outcome.RETRY, 429, "QUOTA_EXCEEDED", 120.0),
        ),
        (
            429,
            rpc(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
            None,
            SendResult(Outcome.RETRY, 429, "QUOTA_EXCEEDED", 60.0),
        ),
        (
            503,
            rpc(503, "UNAVAILABLE", "UNAVAILABLE"),
            "7",
            SendResult(Outcome.RETRY, 503, "UNAVAILABLE", 7.0),
        ),
        (
            503,
            rpc(503, "UNAVAILABLE", "UNAVAILABLE"),
            "Tue, 14 Nov 2023 22:13:50 GMT",
            SendResult(Outcome.RETRY, 503, "UNAVAILABLE", 30.0),
        ),
        (500, rpc(500, "INTERNAL", "INTERNAL"), None, SendResult(Outcome.RETRY, 500, "INTERNAL")),
        (502, None, "bogus", SendResult(Outcome.RETRY, 502, "HTTP 502")),
        (413, None, None, SendResult(Outcome.FAILED, 413, "HTTP 413")),
    ],
)
def test_map_response(status: int, body: Any, retry_after: str | None, expected: SendResult) -> None:
    assert map_response(status, body, retry_after, NOW) == expected
