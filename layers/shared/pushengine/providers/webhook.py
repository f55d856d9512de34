"""The journey webhook step's HTTP adapter (`journeys.webhook.WebhookSender`): one POST with httpx, never
following a redirect, within the step's timeout; an answer or the reason there was none, never raised.

One client per container (its connection pool kept warm between messages); the request's headers, which
carry the signature, are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

import httpx

from pushengine.journeys.webhook import TIMEOUT_SECONDS, WebhookAnswer


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


class HttpWebhookSender:
    def __init__(self, client: httpx.Client | None = None, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._client = client or httpx.Client(follow_redirects=False, timeout=httpx.Timeout(timeout))

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        try:
            answer = self._client.post(url, content=body, headers=dict(headers), follow_redirects=False)
        except httpx.TimeoutException:
            return WebhookAnswer(None, error="timed out")
        except httpx.HTTPError as exc:
            return WebhookAnswer(None, error=type(exc).__name__)
        return WebhookAnswer(
            answer.status_code, _retry_after(answer.headers.get("retry-after"), datetime.now(UTC))
        )


@lru_cache(maxsize=1)
def sender() -> HttpWebhookSender:
    return HttpWebhookSender()
