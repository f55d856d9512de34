"""SQS fan-out: JSON bodies in batches of ten, failed entries retried."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pushengine.dal import aws


def send_json(
    queue_url: str, bodies: Sequence[dict[str, Any]], *, delays: Sequence[int] | None = None
) -> None:
    """Queue JSON bodies; `delays` (seconds, ≤ 900) holds each message back individually."""
    client = aws.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(body, separators=(",", ":")),
                "DelaySeconds": delays[start + i] if delays else 0,
            }
            for i, body in enumerate(bodies[start : start + 10])
        ]
        for _ in range(5):
            failed = client.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
            if not failed:
                break
            ids = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in ids]
        else:
            raise RuntimeError(f"SQS refused {len(entries)} messages after retries")


def change_visibility(queue_arn: str, receipt_handle: str, seconds: int) -> None:
    """Ask SQS to hold a message back (e.g. the provider's Retry-After is longer than we wait inline)."""
    account, name = queue_arn.split(":")[4:6]
    url = aws.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    aws.client("sqs").change_message_visibility(
        QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43200))
    )
