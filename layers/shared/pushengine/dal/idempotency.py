"""Where Powertools' idempotency utility keeps its records: a DynamoDB table (key `id`, TTL `expiration`)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from pushengine.dal import aws


def persistence(table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=aws.client("dynamodb"))
