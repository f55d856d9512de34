"""SQS event sources: receive batches, invoke the function, delete what succeeded (like Lambda's poller).

Redrive to the dead-letter queue is moto's own: on ReceiveMessage it moves a visible message whose
ApproximateReceiveCount has reached the queue's maxReceiveCount, as SQS does.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass
from typing import Any

from samlocal.functions import FunctionTimeout, LocalFunction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqsEventSource:
    function: LocalFunction
    event_name: str
    queue_logical_id: str
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


class SqsPoller:
    def __init__(self, source: SqsEventSource, sqs: Any, region: str) -> None:
        self.source = source
        self.sqs = sqs
        self.region = region
        self.in_flight = 0
        self.wait_seconds = 0  # the first receive of a poll waits this long for a message (long polling)
        self.activity = 0  # rises whenever a batch starts or ends, so an idle check can spot a race
        self.receives = 0  # ReceiveMessage calls made: what an idle poller costs
        self._lock = threading.Lock()

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages it held."""
        messages = self._receive()
        if not messages:
            return 0
        with self._lock:
            self.in_flight += 1
            self.activity += 1
        try:
            self._process(messages)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.activity += 1
        return len(messages)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.source.batch_size:
            self.receives += 1
            reply = self.sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0 if messages else self.wait_seconds,
            )
            got = reply.get("Messages", [])
            messages += got
            if not got:
                break
        return messages

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(m) for m in messages]}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: _lambda_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self.region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def _process(self, messages: list[dict[str, Any]]) -> None:
        source = self.source
        try:
            result = source.function.invoke(self.event(messages), source.function.spec.arn)
        except FunctionTimeout:
            # Stopped at its Timeout (logged by the function): nothing is deleted, the whole batch returns
            # after its visibility timeout, as from Lambda.
            log.info("%s timed out on a batch of %d from %s: it stays on the queue",
                     source.function.name, len(messages), source.queue_arn)  # fmt: skip
            return
        except Exception:
            # Like Lambda: the whole batch stays on the queue and returns after its visibility timeout.
            log.exception(
                "%s failed on a batch of %d from %s", source.function.name, len(messages), source.queue_arn
            )
            return
        failed = self.failed_ids(result, [m["MessageId"] for m in messages])
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            reply = self.sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in reply.get("Failed", []):
                log.warning("delete from %s failed: %s", source.queue_arn, failure)
        if failed:
            log.info("%s reported %d of %d records failed", source.function.name, len(failed), len(messages))

    def failed_ids(self, result: Any, batch_ids: list[str]) -> set[str]:
        """The records to keep: none on success; an invalid report fails the whole batch, as Lambda does."""
        if not self.source.report_batch_item_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures")
        if not failures:
            return set()
        ids = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
        if not ids <= set(batch_ids):
            log.warning("%s returned an invalid batchItemFailures %r", self.source.function.name, failures)
            return set(batch_ids)
        return {i for i in ids if i}


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "dataType": value["DataType"],
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues") or []],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute
