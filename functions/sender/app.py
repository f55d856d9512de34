"""Sender function: per-shard sending of send-queue batches to APNs, FCM and Web Push.

The records of one invocation are sent concurrently, each with its share of the in-flight limit, so the
CPU keeps encrypting for one batch while the last answers of another are still on the wire.
"""

import asyncio
import json
import math
import threading

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pushengine.dal.queues import change_visibility
from pushengine.delivery import sending
from pushengine.observability import logger, metrics, tracer

_local = threading.local()  # one event loop per thread, kept: warm connections and tokens are bound to it


def _runtime() -> tuple[asyncio.AbstractEventLoop, sending.SenderDeps]:
    if not hasattr(_local, "loop"):
        _local.loop, _local.deps = asyncio.new_event_loop(), sending.default_deps()
    return _local.loop, _local.deps


class _WarmLoopProcessor(AsyncBatchProcessor):
    """AsyncBatchProcessor on this thread's long-lived loop (Powertools' own would be new per call
    outside Lambda, dropping the connections and tokens kept on the old one)."""

    def async_process(self) -> list[tuple]:
        loop, _ = _runtime()

        async def every_record() -> list[tuple]:
            return list(await asyncio.gather(*(self._async_process_record(r) for r in self.records)))

        return loop.run_until_complete(every_record())


processor = _WarmLoopProcessor(event_type=EventType.SQS)


async def record_handler(record: SQSRecord) -> None:
    _, deps = _runtime()
    batch = json.loads(record.body)
    receives = int(record.attributes.approximate_receive_count or 1)
    final = receives >= deps.settings.max_receive_count  # the next failure moves it to the dead-letter queue
    try:
        share = sending.concurrency_share(deps.settings, len(processor.records))
        counts = await sending.send_batch(deps, batch, concurrency=share, final=final)
        metrics.add_metric(name="Sent", unit="Count", value=counts.get("sent", 0))
    except sending.RetryLater as exc:
        if not exc.dead_lettered:  # come back after the provider's Retry-After, or a short backoff
            wait = exc.retry_after if exc.retry_after else sending.redelivery_backoff(deps.settings, receives)
            await asyncio.to_thread(
                change_visibility, record.event_source_arn, record.receipt_handle, math.ceil(wait)
            )
        raise
    except Exception as exc:
        if final:  # counted on its campaign before it dead-letters, so the campaign still completes
            await asyncio.to_thread(sending.dead_letter, deps, batch, type(exc).__name__)
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return dict(async_process_partial_response(event, record_handler, processor, context))
