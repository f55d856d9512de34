"""map_response: every documented FCM v1 answer mapped to what the sender must do."""

from typing import Any

import pytest

from pushengine.providers.base import Outcome, SendResult
from pushengine.providers.fcm import FCM_ERROR_TYPE, map_response

pytestmark = pytest.mark.unit


def rpc(code: int, status: str, error_code: str | None = None) -> dict[str, Any]:
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": []}]
    if error_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    return {"error": {"code": code, "message": "m", "status": status, "details": details}}


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
        (
            403,
            rpc(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
            None,
            SendResult(Outcome.FAILED, 403, "SENDER_ID_MISMATCH"),
        ),
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
