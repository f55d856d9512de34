"""The one Logger, Tracer and Metrics every handler uses (service and namespace come from Globals)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
