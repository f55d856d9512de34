"""boto3 clients, made once per container (boto3 reads AWS_ENDPOINT_URL, which the local stack sets)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=50)


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]


@lru_cache(maxsize=32)
def _resource(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().resource(  # type: ignore[call-overload]
        service, config=_CONFIG, endpoint_url=endpoint, region_name=region
    )


def client(service: str) -> Any:
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))


def table(name: str) -> Any:
    return _resource("dynamodb", os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION")).Table(name)


def is_condition_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def conditional(call: Callable[..., Any], /, **kwargs: Any) -> bool:
    """Run a conditional write, call(**kwargs): True if it was applied, False if its condition did not hold."""
    try:
        call(**kwargs)
        return True
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
