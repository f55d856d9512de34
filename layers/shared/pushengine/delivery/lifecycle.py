"""Paused campaigns: their queued work waits on its queue, re-sent with a growing delay, so it is never
dead-lettered (a message held by visibility would count a receive each time) and never lost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushengine.config import Settings
from pushengine.ports import Queue

FIRST_HOLD_SECONDS = 5
MAX_HOLD_SECONDS = 300  # a resumed campaign's held work is back within this


def hold_delay(holds: int) -> int:
    return int(min(MAX_HOLD_SECONDS, FIRST_HOLD_SECONDS * 2**holds))


def hold_paused(
    queue: Queue, settings: Settings, message: Mapping[str, Any], *, audience: bool = False
) -> None:
    """Queue the message again, delayed; the copy being handled is then deleted as done."""
    holds = int(message.get("held", 0))
    url = settings.audience_queue_url if audience else settings.send_queue_url
    queue.send_json(url, [{**message, "held": holds + 1}], delays=[hold_delay(holds)],
                    max_message=settings.max_message_bytes)  # fmt: skip
