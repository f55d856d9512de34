"""SQS fan-out: JSON bodies packed into SendMessageBatch calls within SQS's limits, failed entries retried.

SQS limits (Amazon SQS quotas): at most 10 entries per SendMessageBatch and 1 MiB (1,048,576 bytes) for
the whole call (BatchRequestTooLong); each message at most the queue's MaximumMessageSize, which the
template sets explicitly and hands to every function as MAX_MESSAGE_BYTES (InvalidParameterValue).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pushengine.dal import aws

BATCH_ENTRIES = 10
BATCH_BYTES = 1_048_576
ENTRY_ATTEMPTS = 5


class MessageTooLarge(ValueError):
    """A body over the queue's MaximumMessageSize: the caller must split it (never truncate)."""


def encode(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def size_of(body: dict[str, Any]) -> int:
    """Bytes SQS counts for a message without attributes: its body, UTF-8."""
    return len(encode(body).encode())


def pack(sizes: Sequence[int], *, max_message: int, max_batch: int = BATCH_BYTES) -> Iterator[list[int]]:
    """Indexes of messages, grouped into SendMessageBatch calls in order (≤ 10 entries, ≤ max_batch bytes)."""
    group: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if size > max_message:
            raise MessageTooLarge(f"message {i} is {size} bytes; the queue takes at most {max_message}")
        if group and (len(group) == BATCH_ENTRIES or total + size > max_batch):
            yield group
            group, total = [], 0
        group.append(i)
        total += size
    if group:
        yield group


def send_json(
    queue_url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    delays: Sequence[int] | None = None,
    max_message: int = 262_144,
) -> int:
    """Queue JSON bodies; `delays` (seconds, ≤ 900) holds each message back individually. Returns the
    number of SendMessageBatch calls made."""
    client = aws.client("sqs")
    encoded = [encode(b) for b in bodies]
    calls = 0
    for group in pack([len(e.encode()) for e in encoded], max_message=max_message):
        entries = [
            {"Id": str(i), "MessageBody": encoded[i], "DelaySeconds": min(900, delays[i]) if delays else 0}
            for i in group
        ]
        for attempt in range(ENTRY_ATTEMPTS):
            calls += 1
            failed = client.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
            if not failed:
                break
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:  # our request was wrong: retrying cannot help
                raise RuntimeError(f"SQS refused {len(refused)} messages: {refused[0].get('Code')}")
            ids = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in ids]
            time.sleep(aws.backoff(attempt))
        else:
            raise aws.Contended(f"SQS did not take {len(entries)} messages after {ENTRY_ATTEMPTS} attempts")
    return calls


class SqsQueue:
    """The queue port (`pushengine.ports.Queue`) over SQS."""

    def send_json(
        self,
        queue_url: str,
        bodies: Sequence[dict[str, Any]],
        *,
        delays: Sequence[int] | None = None,
        max_message: int = 262_144,
    ) -> int:
        return send_json(queue_url, bodies, delays=delays, max_message=max_message)


def change_visibility(queue_arn: str, receipt_handle: str, seconds: int) -> None:
    """Ask SQS to hold a message back (e.g. the provider's Retry-After is longer than we wait inline)."""
    account, name = queue_arn.split(":")[4:6]
    url = aws.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    aws.client("sqs").change_message_visibility(
        QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43200))
    )


def rewrite_all(
    queue_url: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    max_message: int = 262_144,
    hold_seconds: int = 60,
    until: Callable[[], bool] = lambda: False,
    drop: Callable[[dict[str, Any]], bool] = lambda body: False,
) -> tuple[int, bool]:
    """One pass over a queue nobody consumes (a dead-letter queue): every visible message is received and
    held invisible; `drop(body)` deletes it; else `change(body)` answers the body to keep in its place
    (sent, then the old one deleted) or None (left as it is). Held messages are released at the end. Stops
    early once `until()` is true. Rewritten counts the dropped ones.
    Returns (messages rewritten, whether the pass reached an empty receive). A long-polling receive (1 s)
    ends the pass, as a short poll may answer empty while a few messages remain."""
    client = aws.client("sqs")
    held: list[str] = []
    rewritten = 0
    try:
        while not until():
            got = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH_ENTRIES,
                                         VisibilityTimeout=hold_seconds, WaitTimeSeconds=1)  # fmt: skip
            messages = got.get("Messages", [])
            if not messages:
                return rewritten, True
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    body = None
                dropped = isinstance(body, dict) and drop(body)
                new = change(body) if isinstance(body, dict) and not dropped else None
                if new is None and not dropped:
                    held.append(message["ReceiptHandle"])
                    continue
                if new is not None:
                    send_json(queue_url, [new], max_message=max_message)
                client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                rewritten += 1
        return rewritten, False
    finally:
        for start in range(0, len(held), BATCH_ENTRIES):
            entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                       for i, h in enumerate(held[start : start + BATCH_ENTRIES])]  # fmt: skip
            client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
