"""boto3 clients, made once per container (boto3 reads AWS_ENDPOINT_URL, which the local stack sets), and
the one place that decides what a refused DynamoDB write means.

DynamoDB refuses a write for three different reasons, and only one of them means "already done":
- the write's own condition did not hold (ConditionalCheckFailed): the answer the caller asked for;
- another write or transaction on the same item was in flight (TransactionConflict), or the table or a
  partition is over its throughput (throttling): nothing was written, so the write is tried again;
- anything else (validation, a condition of another item of a transaction): a defect, raised.
A transaction reports one reason per item in `CancellationReasons`, in the order of its TransactItems.
botocore retries plain throttled writes itself, but never a cancelled transaction nor a plain write that
met a transaction (TransactionConflictException), so those are retried here, with jittered backoff, and
raised as `Contended` past the bound so SQS redelivers the message (the ledger keeps it exactly once).
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.serialize import JSONSerializer

_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=50)

# Cancellation reasons (per item of a transaction) and error codes (of a plain write) worth another try.
RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                               "RequestLimitExceeded"})  # fmt: skip
RETRYABLE_CODES = frozenset({"TransactionConflictException", "ThrottlingException",
                             "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                             "InternalServerError"})  # fmt: skip
WRITE_ATTEMPTS = 6


class Contended(Exception):
    """A write kept meeting conflicts or throttling: let the message come back later."""


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]


@lru_cache(maxsize=32)
def _resource(service: str, endpoint: str | None, region: str | None) -> Any:
    return boto3.session.Session().resource(  # type: ignore[call-overload]
        service, config=_CONFIG, endpoint_url=endpoint, region_name=region
    )


@lru_cache(maxsize=8)
def _item_reader(endpoint: str | None, region: str | None) -> Any:
    reader = _client.__wrapped__("dynamodb", endpoint, region)
    reader.meta.events.register("before-parse.dynamodb.Query", _items_unparsed)
    return reader


def item_reader() -> Any:
    """A DynamoDB client whose Query answers carry `Items` as plain values (`plain_value`: str, int, float,
    bool, None, dict, list, Binary), decoded straight from the JSON body.

    botocore walks every attribute value of a page through its shape model, and boto3's resource layer
    walks it again to deserialize (then numbers.from_dynamo a third time, to leave Decimal): ~2/3 of an
    audience read's CPU for 500 devices of ~20 attributes. Here the items are decoded in one pass; the
    rest of the answer is parsed by botocore as usual."""
    return _item_reader(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))


def _items_unparsed(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    if response_dict["status_code"] >= 300 or not response_dict.get("body"):
        return  # errors are parsed (and raised) by botocore
    body = json.loads(response_dict["body"])
    items = body.pop("Items", None)
    if items is None:
        return
    customized_response_dict["Items"] = [plain_item(item) for item in items]
    response_dict["body"] = json.dumps(body).encode()


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's JSON (a low-level client's answer) as plain values (`plain_value`)."""
    return {k: plain_value(v) for k, v in item.items()}


def plain_value(value: dict[str, Any]) -> Any:
    """One attribute value in DynamoDB's JSON as the domain takes it, in one pass: what boto3's
    TypeDeserializer gives, then numbers.from_dynamo (a number an int when integral, else a float), with
    sets as sorted lists."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return _number(raw)
    if kind == "M":
        return {k: plain_value(v) for k, v in raw.items()}
    if kind == "L":
        return [plain_value(v) for v in raw]
    if kind == "BOOL":
        return raw
    if kind == "NULL":
        return None
    if kind == "SS":
        return sorted(raw)
    if kind == "NS":
        return sorted(_number(v) for v in raw)
    if kind == "B":
        return Binary(base64.b64decode(raw))
    if kind == "BS":
        return [Binary(b) for b in sorted(base64.b64decode(v) for v in raw)]
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _number(raw: str) -> int | float:
    try:
        return int(raw)  # most stored numbers (counts, versions, timestamps): no Decimal made
    except ValueError:
        number = DYNAMODB_CONTEXT.create_decimal(raw)
        return int(number) if number == number.to_integral_value() else float(number)


def client(service: str) -> Any:
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))


class _WireJSON(JSONSerializer):
    """The body of a request whose parameters are already in the JSON protocol's wire format: sent as they
    are, without walking the operation's shapes (which costs more per item than the write itself)."""

    def _serialize(self, serialized: Any, value: Any, shape: Any, key: Any = None) -> None:
        serialized.update(value)


@lru_cache(maxsize=8)
def _bulk_dynamodb(endpoint: str | None, region: str | None) -> Any:
    config = _CONFIG.merge(Config(parameter_validation=False))
    made = boto3.session.Session().client(
        "dynamodb", config=config, endpoint_url=endpoint, region_name=region
    )
    made._serializer = _WireJSON()  # botocore has no public switch for a pre-serialized body
    return made


def bulk_dynamodb() -> Any:
    """A DynamoDB client for bulk writes (imports) whose callers write every AttributeValue themselves
    (`numbers.attribute`): no client-side validation, no shape walk; signing, retries and parsing as usual."""
    return _bulk_dynamodb(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))


def table(name: str) -> Any:
    return _resource("dynamodb", os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION")).Table(name)


def error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def cancellation_reasons(exc: BaseException) -> list[str]:
    """One code per item of a cancelled transaction ("None" where that item was fine)."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [str((r or {}).get("Code") or "None") for r in reasons]


def _verdict(exc: ClientError, guard: int | None) -> str:
    """'condition' (the guarded condition failed), 'retry' or 'raise'."""
    code = error_code(exc)
    if code == "ConditionalCheckFailedException":
        return "condition"
    if code in RETRYABLE_CODES:
        return "retry"
    if code == "TransactionCanceledException":
        reasons = cancellation_reasons(exc)
        if guard is not None and len(reasons) > guard and reasons[guard] == "ConditionalCheckFailed":
            return "condition"  # our own guard: whatever else happened, this was done before
        if any(r in RETRYABLE_REASONS for r in reasons):
            return "retry"
    return "raise"


def backoff(attempt: int) -> float:
    """Full jitter over 25 ms·2^attempt (AWS's recommendation for contended items), capped at 1 s."""
    return random.uniform(0, min(1.0, 0.025 * 2**attempt))


def batch_get(
    client: Any, table_name: str, keys: list[dict[str, Any]], *, consistent: bool = True
) -> list[dict[str, Any]]:
    """BatchGetItem over any number of keys: 100 a call (its limit), keys handed back in UnprocessedKeys
    (throttling, the 16 MB answer limit) asked again after a backoff. Items as `client` answers them."""
    items: list[dict[str, Any]] = []
    pending, attempt = list(keys), 0
    while pending:
        got = client.batch_get_item(
            RequestItems={table_name: {"Keys": pending[:100], "ConsistentRead": consistent}}
        )
        items += got["Responses"].get(table_name, [])
        unprocessed = got.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", [])
        pending = pending[100:] + unprocessed
        if unprocessed:
            time.sleep(backoff(attempt))
            attempt += 1
    return items


def conditional(
    call: Callable[..., Any],
    /,
    *,
    guard: int | None = None,
    attempts: int = WRITE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> bool:
    """Run a conditional write or transaction, call(**kwargs): True if it was applied, False if its own
    condition did not hold (for a transaction: the item at index `guard`; a transaction without a guard
    never answers False). Conflicts and throttling are retried; past `attempts`, Contended is raised."""
    applied, _ = _run(call, guard, attempts, sleep, kwargs)
    return applied


def retried(call: Callable[..., Any], /, **kwargs: Any) -> Any:
    """An unconditional write, call(**kwargs), retried through conflicts and throttling; its response."""
    _, response = _run(call, None, WRITE_ATTEMPTS, time.sleep, kwargs)
    return response


def _run(
    call: Callable[..., Any], guard: int | None, attempts: int, sleep: Callable[[float], None],
    kwargs: dict[str, Any],
) -> tuple[bool, Any]:  # fmt: skip
    for attempt in range(attempts):
        try:
            return True, call(**kwargs)
        except ClientError as exc:
            verdict = _verdict(exc, guard)
            if verdict == "condition":
                return False, None
            if verdict == "raise":
                raise
            if attempt == attempts - 1:
                raise Contended(
                    f"write still contended after {attempts} attempts: {error_code(exc)}"
                ) from exc
            sleep(backoff(attempt))
    raise AssertionError("unreachable")


def transact(items: Sequence[dict[str, Any]], *, guard: int | None = None, **kwargs: Any) -> bool:
    """TransactWriteItems through `conditional` (see there)."""
    return conditional(
        lambda: client("dynamodb").transact_write_items(TransactItems=list(items)), guard=guard, **kwargs
    )


def is_condition_failure(exc: Exception) -> bool:
    """A plain conditional write whose condition did not hold."""
    return error_code(exc) == "ConditionalCheckFailedException"
