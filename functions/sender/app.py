"""Sender function: per-shard sending of send-queue batches to APNs, FCM and Web Push."""

import asyncio
import json
import math
import threading

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pushengine.dal.queues import change_visibility
from pushengine.delivery import sending
from pushengine.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
_local = threading.local()  # one event loop per thread, kept: warm connections and tokens are bound to it


def _runtime() -> tuple[asyncio.AbstractEventLoop, sending.SenderDeps]:
    if not hasattr(_local, "loop"):
        _local.loop, _local.deps = asyncio.new_event_loop(), sending.default_deps()
    return _local.loop, _local.deps


def record_handler(record: SQSRecord) -> None:
    loop, deps = _runtime()
    try:
        counts = loop.run_until_complete(sending.send_batch(deps, json.loads(record.body)))
        metrics.add_metric(name="Sent", unit="Count", value=counts.get("sent", 0))
    except sending.RetryLater as exc:
        if exc.retry_after:  # the provider asked for longer than we wait inline
            change_visibility(record.event_source_arn, record.receipt_handle, math.ceil(exc.retry_after))
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return dict(process_partial_response(event, record_handler, processor, context))
