"""Strict mode: the embedded AWS refuses what AWS refuses and fails as AWS fails, seen through boto3."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from samlocal import LocalRuntime

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "template.yaml"
STACK = "strict-test"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalRuntime]:
    with LocalRuntime(TEMPLATE, stack_name=STACK, strict=True, background=False, visibility_timeout=1) as local:
        yield local


@pytest.fixture(autouse=True)
def no_faults_after(stack: LocalRuntime) -> Iterator[None]:
    yield
    stack.faults.clear()
    stack.faults.reset_counts()


def client(stack: LocalRuntime, service: str) -> Any:
    """A client as the engine has one (not the runtime's own), without retries so each answer shows."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.aws_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def error(call: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response


@pytest.fixture(scope="module")
def small_queue(stack: LocalRuntime) -> str:
    return str(
        client(stack, "sqs").create_queue(
            QueueName="strict-small", Attributes={"MaximumMessageSize": "1024"}
        )["QueueUrl"]
    )


@pytest.fixture(scope="module")
def table(stack: LocalRuntime) -> str:
    client(stack, "dynamodb").create_table(
        TableName="strict-items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "strict-items"


def put(pk: str, **attributes: Any) -> dict[str, Any]:
    return {"Put": {"TableName": "strict-items", "Item": {"pk": {"S": pk}, **attributes}}}


# ---------- SQS limits ----------


def test_a_send_batch_of_eleven_entries_is_too_many(stack: LocalRuntime) -> None:
    sqs = client(stack, "sqs")
    entries = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]

    status, response = error(sqs.send_message_batch, QueueUrl=stack.queue_url("WorkQueue"), Entries=entries)

    assert status == 400
    assert response["Error"]["Code"] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


def test_receipt_batches_take_ten_entries_and_visibility_twelve_hours(stack: LocalRuntime) -> None:
    """What an erasure's pass over a dead-letter queue calls: ReceiveMessage (≤ 10 messages), then
    ChangeMessageVisibilityBatch and DeleteMessageBatch (≤ 10 entries), visibility 0..43,200 s."""
    sqs, url = client(stack, "sqs"), stack.queue_url("WorkQueue")
    handles = [{"Id": str(i), "ReceiptHandle": f"h{i}"} for i in range(11)]
    for call in (sqs.delete_message_batch, sqs.change_message_visibility_batch):
        status, response = error(call, QueueUrl=url, Entries=handles)
        assert status == 400
        assert response["Error"]["Code"] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    status, response = error(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"
    status, response = error(sqs.receive_message, QueueUrl=url, VisibilityTimeout=43_201)
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"
    entry = [{"Id": "0", "ReceiptHandle": "h0", "VisibilityTimeout": 43_201}]
    status, response = error(sqs.change_message_visibility_batch, QueueUrl=url, Entries=entry)
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"


def test_a_send_batch_over_one_mib_of_utf8_bytes_is_too_long(stack: LocalRuntime) -> None:
    sqs = client(stack, "sqs")
    # 10 x 60,000 characters is 600,000 characters (moto alone counts those) but 1,200,000 bytes.
    entries = [{"Id": str(i), "MessageBody": "é" * 60_000} for i in range(10)]

    status, response = error(sqs.send_message_batch, QueueUrl=stack.queue_url("WorkQueue"), Entries=entries)

    assert status == 400
    assert response["Error"]["Code"] == "AWS.SimpleQueueService.BatchRequestTooLong"
    assert (
        stack.boto3_client("sqs").receive_message(QueueUrl=stack.queue_url("WorkQueue")).get("Messages")
        is None
    )


def test_a_message_over_the_queues_maximum_size_counts_its_attributes(
    stack: LocalRuntime, small_queue: str
) -> None:
    sqs = client(stack, "sqs")
    attribute = {"trace": {"DataType": "String", "StringValue": "t" * 100}}
    sqs.send_message(QueueUrl=small_queue, MessageBody="b" * 1000)  # 1,000 bytes: fits in 1,024

    status, response = error(
        sqs.send_message, QueueUrl=small_queue, MessageBody="b" * 1000, MessageAttributes=attribute
    )
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"
    assert "shorter than 1024 bytes" in response["Error"]["Message"]

    status, response = error(sqs.send_message, QueueUrl=small_queue, MessageBody="é" * 600)  # 1,200 bytes
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"

    entries = [{"Id": "ok", "MessageBody": "b"}, {"Id": "big", "MessageBody": "é" * 600}]
    status, response = error(sqs.send_message_batch, QueueUrl=small_queue, Entries=entries)
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"


def test_a_delay_over_fifteen_minutes_is_invalid(stack: LocalRuntime) -> None:
    status, response = error(
        client(stack, "sqs").send_message,
        QueueUrl=stack.queue_url("WorkQueue"),
        MessageBody="x",
        DelaySeconds=901,
    )
    assert status == 400 and response["Error"]["Code"] == "InvalidParameterValue"


# ---------- DynamoDB limits ----------


def test_a_query_cursor_outside_its_key_condition_is_refused(stack: LocalRuntime) -> None:
    """AWS answers 400 to an ExclusiveStartKey outside the Query's key condition (another partition key, or
    a sort key outside BETWEEN); moto would answer it, and a cursor carried to the wrong key read again."""
    dynamodb = client(stack, "dynamodb")
    dynamodb.create_table(
        TableName="strict-index",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "aud", "ark")],
        GlobalSecondaryIndexes=[{"IndexName": "audience", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "aud", "KeyType": "HASH"},
                                               {"AttributeName": "ark", "KeyType": "RANGE"}]}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    for pk, aud, ark in [("a", "z#0", "0001#a"), ("b", "z#0", "0002#b"), ("c", "z#1", "1001#c")]:
        dynamodb.put_item(TableName="strict-index", Item={"pk": {"S": pk}, "aud": {"S": aud}, "ark": {"S": ark}})

    def query(aud: str, start: dict[str, Any], bounds: tuple[str, str] | None = None) -> Any:
        values = {":aud": {"S": aud}}
        condition = "aud = :aud"
        if bounds:
            values |= {":lo": {"S": bounds[0]}, ":hi": {"S": bounds[1]}}
            condition += " AND ark BETWEEN :lo AND :hi"
        return lambda: dynamodb.query(TableName="strict-index", IndexName="audience", Limit=1,
                                      KeyConditionExpression=condition, ExpressionAttributeValues=values,
                                      ExclusiveStartKey=start)  # fmt: skip

    first = dynamodb.query(TableName="strict-index", IndexName="audience", Limit=1,
                           KeyConditionExpression="aud = :aud", ExpressionAttributeValues={":aud": {"S": "z#0"}})
    start = first["LastEvaluatedKey"]  # fmt: skip
    assert [i["pk"]["S"] for i in query("z#0", start)()["Items"]] == ["b"]  # the page after it
    for wrong in (query("z#1", start), query("z#0", start, ("0002", "0002$"))):
        status, response = error(wrong)
        assert status == 400 and response["Error"]["Code"] == "ValidationException"
        assert response["Error"]["Message"] == (
            "The provided starting key is outside query boundaries based on provided conditions"
        )


def test_an_item_over_400_kb_is_refused(stack: LocalRuntime, table: str) -> None:
    status, response = error(
        client(stack, "dynamodb").put_item,
        TableName=table,
        Item={"pk": {"S": "big"}, "d": {"S": "x" * 410_000}},
    )
    assert status == 400 and response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"] == "Item size has exceeded the maximum allowed size"


def test_transactions_take_100_items_and_4_mb(stack: LocalRuntime, table: str) -> None:
    dynamodb = client(stack, "dynamodb")
    dynamodb.transact_write_items(TransactItems=[put(f"t{i}") for i in range(100)])
    gets = [{"Get": {"TableName": table, "Key": {"pk": {"S": f"t{i}"}}}} for i in range(100)]
    assert len(dynamodb.transact_get_items(TransactItems=gets)["Responses"]) == 100  # moto alone stops at 25

    status, response = error(dynamodb.transact_write_items, TransactItems=[put(f"u{i}") for i in range(101)])
    assert status == 400 and response["Error"]["Code"] == "ValidationException"
    status, response = error(dynamodb.transact_get_items, TransactItems=[*gets, gets[0]])
    assert status == 400 and response["Error"]["Code"] == "ValidationException"

    # 100 items of 45 KB: each fits, together 4.5 MB.
    heavy = [put(f"h{i}", d={"S": "x" * 45_000}) for i in range(100)]
    status, response = error(dynamodb.transact_write_items, TransactItems=heavy)
    assert status == 400 and response["Error"]["Code"] == "ValidationException"
    assert "4 MB" in response["Error"]["Message"]
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "h0"}})


def test_batch_calls_take_25_writes_and_100_keys(stack: LocalRuntime, table: str) -> None:
    dynamodb = client(stack, "dynamodb")
    writes = [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(26)]
    status, response = error(dynamodb.batch_write_item, RequestItems={table: writes})
    assert status == 400 and response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"] == "Too many items requested for the BatchWriteItem call"
    dynamodb.batch_write_item(RequestItems={table: writes[:25]})

    keys = [{"pk": {"S": f"b{i}"}} for i in range(101)]
    status, response = error(dynamodb.batch_get_item, RequestItems={table: {"Keys": keys}})
    assert status == 400 and response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1E+126", "Number overflow"),
        ("-1e300", "Number overflow"),
        ("1E-131", "Number underflow"),
        ("123456789012345678901234567890123456789", "more than 38 significant digits"),
        ("NaN", "cannot be converted into a number"),
    ],
)
def test_numbers_dynamodb_cannot_hold_are_refused_everywhere(
    stack: LocalRuntime, table: str, number: str, reason: str
) -> None:
    dynamodb = client(stack, "dynamodb")
    status, response = error(dynamodb.put_item, TableName=table, Item={"pk": {"S": "n"}, "v": {"N": number}})
    assert status == 400 and response["Error"]["Code"] == "ValidationException"
    assert reason in response["Error"]["Message"]

    status, response = error(
        dynamodb.update_item,
        TableName=table,
        Key={"pk": {"S": "n"}},
        UpdateExpression="ADD c :v",
        ExpressionAttributeValues={":v": {"N": number}},
    )  # moto alone: a 500 with a traceback
    assert status == 400 and response["Error"]["Code"] == "ValidationException"
    assert reason in response["Error"]["Message"]


def test_numbers_at_the_edges_of_the_range_are_kept_and_exponents_added(
    stack: LocalRuntime, table: str
) -> None:
    dynamodb = client(stack, "dynamodb")
    largest = "9.9999999999999999999999999999999999999E+125"
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": "edge"}, "big": {"N": largest}, "small": {"N": "1E-130"}}
    )
    for value in ("1E+2", "2.5e1"):
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": "edge"}},
            UpdateExpression="ADD c :v",
            ExpressionAttributeValues={":v": {"N": value}},
        )
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "edge"}})["Item"]
    assert item["c"] == {"N": "125"}
    assert float(item["big"]["N"]) == float(largest) and float(item["small"]["N"]) == 1e-130


# ---------- faults ----------


def test_a_transaction_conflict_cancels_with_awss_reasons_and_writes_nothing(
    stack: LocalRuntime, table: str
) -> None:
    dynamodb = client(stack, "dynamodb")
    stack.faults.update(transaction_conflict=1.0)

    status, response = error(dynamodb.transact_write_items, TransactItems=[put("c1"), put("c2"), put("c3")])

    assert status == 400 and response["Error"]["Code"] == "TransactionCanceledException"
    reasons = response["CancellationReasons"]
    assert len(reasons) == 3
    assert [r["Code"] for r in reasons].count("TransactionConflict") == 1
    assert {r["Code"] for r in reasons} == {"TransactionConflict", "None"}
    conflict = next(r for r in reasons if r["Code"] == "TransactionConflict")
    assert conflict["Message"] == "Transaction is ongoing for the item"
    assert "TransactionConflict" in response["Error"]["Message"]
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[put("c1")])
    assert stack.faults.injected() == {"transaction_conflict": 2}
    stack.faults.clear()
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "c1"}})  # never forwarded


def test_a_cancelled_transaction_puts_back_every_item_it_wrote_and_only_those(
    stack: LocalRuntime, table: str
) -> None:
    """The embedded DynamoDB rolls a cancelled transaction back item by item (moto's whole-table copy
    is skipped): items it created are gone, items it changed are as they were, others untouched."""
    dynamodb = client(stack, "dynamodb")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "r-kept"}, "n": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "r-other"}, "n": {"N": "7"}})
    bump = {"Update": {"TableName": table, "Key": {"pk": {"S": "r-kept"}}, "UpdateExpression": "ADD n :one",
                       "ExpressionAttributeValues": {":one": {"N": "1"}}}}  # fmt: skip
    refused = {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "r-other"}},
                                  "ConditionExpression": "attribute_not_exists(pk)"}}  # fmt: skip
    status, response = error(
        dynamodb.transact_write_items, TransactItems=[put("r-new", n={"N": "5"}), bump, refused]
    )
    assert status == 400 and [r["Code"] for r in response["CancellationReasons"]] == [
        "None", "None", "ConditionalCheckFailed"]  # fmt: skip
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "r-new"}})
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "r-kept"}})["Item"]["n"] == {"N": "1"}
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "r-other"}})["Item"]["n"] == {"N": "7"}
    dynamodb.transact_write_items(TransactItems=[put("r-new", n={"N": "5"}), bump])  # and a good one lands
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "r-kept"}})["Item"]["n"] == {"N": "2"}


def test_a_write_to_an_item_in_a_transaction_conflicts(stack: LocalRuntime, table: str) -> None:
    stack.faults.update(write_conflict=1.0)
    status, response = error(client(stack, "dynamodb").put_item, TableName=table, Item={"pk": {"S": "w"}})
    assert status == 400 and response["Error"]["Code"] == "TransactionConflictException"
    assert stack.faults.injected() == {"write_conflict": 1}


def test_throttling_answers_both_of_awss_throttling_errors_with_400(stack: LocalRuntime, table: str) -> None:
    dynamodb = client(stack, "dynamodb")
    stack.faults.update(throttle=1.0)
    codes = set()
    for _ in range(12):
        status, response = error(dynamodb.get_item, TableName=table, Key={"pk": {"S": "x"}})
        assert status == 400
        codes.add(response["Error"]["Code"])
    assert codes == {"ThrottlingException", "ProvisionedThroughputExceededException"}
    assert stack.faults.injected() == {"throttle": 12}
    # control-plane calls are not throttled this way
    assert client(stack, "dynamodb").describe_table(TableName=table)["Table"]["TableName"] == table


def test_sqs_5xx_are_internal_error_or_service_unavailable_and_enqueue_nothing(stack: LocalRuntime) -> None:
    sqs, url = client(stack, "sqs"), stack.queue_url("WorkDLQ")
    stack.faults.update(sqs_5xx=1.0)
    seen = set()
    for _ in range(12):
        status, response = error(sqs.send_message, QueueUrl=url, MessageBody="lost?")
        seen.add((status, response["Error"]["Code"]))
    assert seen == {(500, "InternalError"), (503, "ServiceUnavailable")}
    stack.faults.clear()
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


def test_scheduler_5xx_is_an_internal_server_exception_and_creates_nothing(stack: LocalRuntime) -> None:
    scheduler = client(stack, "scheduler")
    stack.faults.update(scheduler_5xx=1.0)
    status, response = error(
        scheduler.create_schedule,
        Name="never",
        GroupName=f"{STACK}-jobs",
        ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": stack.function_arn("ScheduledFunction"),
            "RoleArn": "arn:aws:iam::123456789012:role/x",
        },
    )
    assert status == 500 and response["Error"]["Code"] == "InternalServerException"
    assert stack.faults.injected() == {"scheduler_5xx": 1}
    stack.faults.clear()
    assert scheduler.list_schedules(GroupName=f"{STACK}-jobs")["Schedules"] == []


def test_rate_zero_injects_nothing_and_rates_go_back_after_raised(stack: LocalRuntime, table: str) -> None:
    dynamodb, sqs = client(stack, "dynamodb"), client(stack, "sqs")
    with stack.faults.raised(throttle=1.0):
        error(dynamodb.get_item, TableName=table, Key={"pk": {"S": "x"}})
    assert stack.faults.rates["throttle"] == 0.0
    for i in range(40):
        dynamodb.transact_write_items(TransactItems=[put(f"z{i}")])
        dynamodb.get_item(TableName=table, Key={"pk": {"S": f"z{i}"}})
        sqs.get_queue_attributes(QueueUrl=stack.queue_url("WorkDLQ"), AttributeNames=["All"])
    assert stack.faults.injected() == {"throttle": 1}


def test_the_runtimes_own_calls_are_never_faulted(stack: LocalRuntime) -> None:
    stack.boto3_client("sqs").send_message(QueueUrl=stack.queue_url("WorkQueue"), MessageBody='{"id": "own"}')
    stack.faults.update(sqs_5xx=1.0, scheduler_5xx=1.0)

    stack.drain(timeout=30)  # the poller receives and deletes; the worker writes to DynamoDB (no fault)

    assert stack.faults.injected() == {}
    stack.faults.clear()
    got = stack.boto3_client("dynamodb").get_item(
        TableName=stack.table_name("ItemsTable"), Key={"pk": {"S": "delivery#own#1"}}
    )
    assert got["Item"]["id"] == {"S": "own"}


# ---------- fences ----------


def test_concurrent_transactions_on_one_item_never_fail_inside_moto(stack: LocalRuntime, table: str) -> None:
    """moto alone: `dictionary changed size during iteration` (500) under concurrent transactions."""
    stack.log.clear()
    failures: list[str] = []

    def sender(n: int) -> None:
        dynamodb = client(stack, "dynamodb")
        for i in range(40):
            counter = {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "progress"}},
                    "UpdateExpression": "ADD sent :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
            try:
                dynamodb.transact_write_items(TransactItems=[counter, put(f"s{n}-{i}", n={"N": str(i)})])
                dynamodb.put_item(TableName=table, Item={"pk": {"S": f"p{n}-{i}"}})
            except ClientError as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    item = client(stack, "dynamodb").get_item(TableName=table, Key={"pk": {"S": "progress"}})["Item"]
    assert item["sent"] == {"N": "320"}
    assert stack.log.tracebacks() == []


# ---------- SQS visibility set by a handler ----------


def test_a_record_the_handler_backed_off_returns_after_its_own_visibility(stack: LocalRuntime) -> None:
    """The handler sets a 1 s visibility on a record, then reports it failed; the queue's own is 30 s."""
    sqs = stack.boto3_client("sqs")
    url = stack.queue_url("WorkQueue")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30"})
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "later", "backoff": 1}))
        stack.drain(timeout=20)  # would time out if the failed record waited out the queue's 30 s
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})

    items = stack.boto3_client("dynamodb").query(
        TableName=stack.table_name("ItemsTable"),
        IndexName="by_kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": {"S": "delivery"}},
    )["Items"]
    times = sorted(float(i["at"]["N"]) for i in items if i["id"]["S"] == "later")
    assert len(times) == 2
    assert 0.9 <= times[1] - times[0] < 10


# ---------- the runtime's log ----------


def test_the_runtime_log_keeps_what_a_failing_handler_logged(stack: LocalRuntime) -> None:
    stack.log.clear()
    stack.boto3_client("sqs").send_message(
        QueueUrl=stack.queue_url("WorkQueue"),
        MessageBody=json.dumps({"id": "boom", "behaviour": "raise_once"}),
    )

    stack.drain(timeout=30)

    (traceback,) = stack.log.tracebacks()
    assert "WorkerFunction" in traceback or "worker" in traceback
    assert "RuntimeError: the whole batch fails" in traceback


# ---------- an existing AWS endpoint ----------


def test_an_existing_endpoint_gets_the_templates_resources_and_keeps_its_own() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        mine = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing"}  # fmt: skip
        dynamodb, sqs = boto3.client("dynamodb", **mine), boto3.client("sqs", **mine)
        dynamodb.create_table(
            TableName="someone-elses",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="someone-elses", Item={"pk": {"S": "keep me"}})
        sqs.create_queue(QueueName="someone-elses")
        scheduler = boto3.client("scheduler", **mine)
        before = (
            set(dynamodb.list_tables()["TableNames"]),
            set(sqs.list_queues()["QueueUrls"]),
            {g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]},
        )

        with LocalRuntime(TEMPLATE, stack_name="ext-test", aws_endpoint_url=url, background=True) as stack:
            assert stack.aws_url == url
            assert "ext-test-items" in dynamodb.list_tables()["TableNames"]
            sqs.send_message(QueueUrl=stack.queue_url("WorkQueue"), MessageBody='{"id": "outside"}')
            stack.drain(timeout=30)
            got = dynamodb.get_item(TableName="ext-test-items", Key={"pk": {"S": "delivery#outside#1"}})
            assert got["Item"]["source"]["S"].endswith(":ext-test-WorkQueue")

        after = (
            set(dynamodb.list_tables()["TableNames"]),
            set(sqs.list_queues()["QueueUrls"]),
            {g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]},
        )
        assert after == before and "someone-elses" in after[0]
        assert dynamodb.get_item(TableName="someone-elses", Key={"pk": {"S": "keep me"}})["Item"]
    finally:
        server.stop()


def test_strict_mode_in_front_of_an_existing_endpoint() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    upstream = f"http://{host}:{port}"
    try:
        with LocalRuntime(TEMPLATE, stack_name="ext-strict", aws_endpoint_url=upstream, strict=True) as stack:
            assert stack.aws_url != upstream  # a local proxy that applies the limits and faults
            queue = stack.queue_url("WorkQueue")
            entries = [{"Id": str(i), "MessageBody": "é" * 60_000} for i in range(10)]
            status, response = error(client(stack, "sqs").send_message_batch, QueueUrl=queue, Entries=entries)
            assert status == 400 and response["Error"]["Code"] == "AWS.SimpleQueueService.BatchRequestTooLong"

            client(stack, "sqs").send_message(QueueUrl=queue, MessageBody='{"id": "proxied"}')
            stack.drain(timeout=30)
            direct = boto3.client("dynamodb", endpoint_url=upstream, region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
            got = direct.get_item(TableName="ext-strict-items", Key={"pk": {"S": "delivery#proxied#1"}})
            assert got["Item"]["id"] == {"S": "proxied"}

            with stack.faults.raised(sqs_5xx=1.0):
                status, response = error(client(stack, "sqs").send_message, QueueUrl=queue, MessageBody="x")
            assert status in (500, 503) and stack.faults.injected() == {"sqs_5xx": 1}
        assert "ext-strict-items" not in direct.list_tables()["TableNames"]
    finally:
        server.stop()


# ---------- long-polling pollers ----------


def test_background_pollers_long_poll_idle_cheaply_and_stop_promptly() -> None:
    import resource
    import time

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    stack = LocalRuntime(TEMPLATE, stack_name="idle-test", background=True, long_poll_seconds=1).start()
    try:
        time.sleep(1)
        before, started = cpu_seconds(), time.monotonic()
        receives = [p.receives for p in stack.pollers]
        time.sleep(3)
        elapsed = time.monotonic() - started
        # What idling costs, counted: a long poll asks about once a second per queue (a short poll every
        # 50 ms would ask ~60 times here); the CPU share is printed, not asserted (the machine may be busy).
        asked = [p.receives - r for p, r in zip(stack.pollers, receives, strict=True)]
        print(f"idle: {(cpu_seconds() - before) / elapsed:.1%} of a core, ReceiveMessage per poller {asked}")
        assert all(n <= elapsed + 2 for n in asked), asked

        sent = time.monotonic()
        stack.boto3_client("sqs").send_message(
            QueueUrl=stack.queue_url("WorkQueue"), MessageBody='{"id": "wake"}'
        )
        table = stack.table_name("ItemsTable")
        while "Item" not in stack.boto3_client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": "delivery#wake#1"}}
        ):
            assert time.monotonic() - sent < 3, "a waiting long poll should take the message at once"
            time.sleep(0.05)
    finally:
        closing = time.monotonic()
        stack.close()
    assert time.monotonic() - closing < 3


def test_the_runtime_log_keeps_what_a_powertools_logger_logged(stack: LocalRuntime) -> None:
    from aws_lambda_powertools import Logger

    stack.log.clear()
    logger = Logger(service="strict-probe")  # as a function's module does: it filters root handlers
    try:
        raise ValueError("probe")
    except ValueError:
        logger.exception("a function failed")

    (traceback,) = stack.log.tracebacks()
    assert "ValueError: probe" in traceback
