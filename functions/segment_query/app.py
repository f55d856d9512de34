"""Segment query function: Scheduler fires a wave here; the audience queue brings (zone, shard) tasks."""

from functools import cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pushengine.delivery import audience_queue, segment
from pushengine.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
deps = cache(segment.default_deps)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "Records" not in event:  # an EventBridge Scheduler invocation: the schedule's input is the event
        message = audience_queue.parsed(deps(), event)  # refused (and raised) if no message model accepts it
        audience_queue.handle(deps(), message, context.get_remaining_time_in_millis)
        return {"fired": getattr(message, "wave_id", None) or message.kind}

    def record_handler(record: SQSRecord) -> None:
        receives = int(record.attributes.approximate_receive_count or 1)
        final = receives >= deps().settings.max_receive_count  # the next failure dead-letters it
        message = audience_queue.decoded(record.body)
        audience_queue.handle_record(deps(), message, context.get_remaining_time_in_millis, final=final)

    return dict(process_partial_response(event, record_handler, processor, context))
