"""Jobs function: device imports and exports, one stretch per jobs-queue message (pushengine.imports)."""

import json
from functools import cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pushengine import imports
from pushengine.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
deps = cache(imports.default_deps)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    def record_handler(record: SQSRecord) -> None:
        imports.handle(deps(), json.loads(record.body), context.get_remaining_time_in_millis)

    return dict(process_partial_response(event, record_handler, processor, context))
