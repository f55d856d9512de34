"""Jobs function: device imports and exports and date-attribute index jobs, one stretch per jobs-queue message
(pushengine.imports, pushengine.anniversaries), and the rest of an erasure's pass (pending triggered sends,
messages, dead-letter queues, export files: pushengine.erasure)."""

import json
from functools import cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pushengine import erasure, imports
from pushengine.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
deps = cache(imports.default_deps)
erasure_deps = cache(erasure.default_deps)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    def record_handler(record: SQSRecord) -> None:
        step = json.loads(record.body)
        if step.get("kind") in (erasure.ERASE_KIND, "erase_dead_letters"):
            erasure.continue_erasure(erasure_deps(), step, context.get_remaining_time_in_millis)
        else:
            imports.handle(deps(), step, context.get_remaining_time_in_millis)

    return dict(process_partial_response(event, record_handler, processor, context))
