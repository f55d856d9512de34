"""The Docker-free local runtime: SQS event sources, schedules, HTTP routes and start-up validation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from samlocal import Clock, LocalRuntime, TemplateError, create_tables, load_template

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"
TEMPLATE = FIXTURE / "template.yaml"
REAL_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
STACK = "rt-test"

StackFactory = Callable[..., LocalRuntime]


@pytest.fixture
def make_stack() -> Iterator[StackFactory]:
    started: list[LocalRuntime] = []

    def make(template: Path = TEMPLATE, **options: Any) -> LocalRuntime:
        options.setdefault("stack_name", STACK)
        stack = LocalRuntime(template, **options).start()
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stack.close()


def items(stack: LocalRuntime, kind: str) -> list[dict[str, Any]]:
    reply = stack.boto3_client("dynamodb").query(
        TableName=stack.table_name("ItemsTable"),
        IndexName="by_kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": {"S": kind}},
    )
    return reply["Items"]


def deliveries(stack: LocalRuntime) -> list[dict[str, Any]]:
    found = [
        {
            "id": item["id"]["S"],
            "count": int(item["count"]["N"]),
            "batch": sorted(v["S"] for v in item["batch"]["L"]),
            "at": float(item["at"]["N"]),
            "greeting": item["greeting"]["S"],
        }
        for item in items(stack, "delivery")
    ]
    return sorted(found, key=lambda d: (d["at"], d["id"]))


def send(stack: LocalRuntime, *bodies: dict[str, Any]) -> None:
    sqs = stack.boto3_client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=stack.queue_url("WorkQueue"), MessageBody=json.dumps(body))


def dlq_bodies(stack: LocalRuntime) -> list[dict[str, Any]]:
    reply = stack.boto3_client("sqs").receive_message(
        QueueUrl=stack.queue_url("WorkDLQ"), MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(m["Body"]) for m in reply.get("Messages", [])]


# ---------- SQS event sources ----------


def test_failed_record_of_a_batch_comes_back_alone_after_the_visibility_timeout(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(visibility_timeout=1, background=False)
    send(stack, {"id": "a"}, {"id": "b", "behaviour": "once"}, {"id": "c"})

    stack.drain(timeout=30)

    seen = deliveries(stack)
    assert [(d["id"], d["count"]) for d in seen if d["id"] != "b"] == [("a", 1), ("c", 1)]
    first_b, second_b = (d for d in seen if d["id"] == "b")
    assert first_b["count"] == 1 and first_b["batch"] == ["a", "b", "c"]
    assert second_b["count"] == 2 and second_b["batch"] == ["b"]
    # Waited out the 1-second visibility timeout, counted from the receive, while "at" is stamped in the handler
    # after the batch's earlier writes (a few tenths of a second on a loaded machine); back at once is ~0.05.
    assert second_b["at"] - first_b["at"] >= 0.5
    assert {d["greeting"] for d in seen} == {"-"}  # the API function's own variable stays its own
    assert dlq_bodies(stack) == []


def test_a_message_turning_visible_while_its_queue_is_counted_still_counts_as_pending(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto counts a queue's visible messages before its in-flight ones; drain must not see an empty queue
    when a message's visibility timeout ends between the two counts."""
    from moto.sqs.models import Message

    stack = make_stack(visibility_timeout=30, background=False)
    send(stack, {"id": "a"})
    stack.boto3_client("sqs").receive_message(QueueUrl=stack.queue_url("WorkQueue"))  # in flight
    answers = iter([False])  # in flight when first asked, visible from then on

    monkeypatch.setattr(Message, "visible", property(lambda self: next(answers, True)))
    assert stack._pending() == {"WorkQueue": 1}


def test_drain_does_not_stop_on_one_pass_that_missed_a_message(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass can miss a message between a queue's counts (turning visible, or taken by a background
    poller); drain stops only when a second pass agrees."""
    stack = make_stack(visibility_timeout=30, background=False)
    send(stack, {"id": "late"})
    sqs = stack.boto3_client("sqs")
    sqs.receive_message(QueueUrl=stack.queue_url("WorkQueue"), VisibilityTimeout=1)  # back in a second
    counted, passes = stack._pending, []

    def pending() -> dict[str, int]:
        passes.append(1)
        return {} if len(passes) == 1 else counted()  # the first pass's counts miss it

    monkeypatch.setattr(stack, "_pending", pending)

    stack.drain(timeout=30)
    assert [d["id"] for d in deliveries(stack)] == ["late"]


def test_a_handler_exception_keeps_the_whole_batch(make_stack: StackFactory) -> None:
    stack = make_stack(visibility_timeout=1)
    stack.boto3_client("sqs").send_message_batch(
        QueueUrl=stack.queue_url("WorkQueue"),
        Entries=[
            {"Id": "1", "MessageBody": json.dumps({"id": "x", "behaviour": "raise_once"})},
            {"Id": "2", "MessageBody": json.dumps({"id": "y"})},
        ],
    )

    stack.drain(timeout=30)

    seen = deliveries(stack)
    assert [d["count"] for d in seen if d["id"] == "x"] == [1, 2]
    assert seen[0]["batch"] == ["x", "y"]  # one batch failed as a whole...
    assert [d["count"] for d in seen if d["id"] == "y"][-1] == 2  # ...so y, received with it, came back too


def test_a_message_that_always_fails_lands_in_the_dlq_after_max_receive_count(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(visibility_timeout=1)
    send(stack, {"id": "poison", "behaviour": "always"}, {"id": "fine"})

    stack.drain(timeout=30)

    poison = [d["count"] for d in deliveries(stack) if d["id"] == "poison"]
    assert poison == [1, 2, 3]  # maxReceiveCount is 3 in the fixture template
    assert [d["count"] for d in deliveries(stack) if d["id"] == "fine"] == [1]
    assert dlq_bodies(stack) == [{"id": "poison", "behaviour": "always"}]


def test_the_sqs_event_has_lambdas_record_shape(make_stack: StackFactory) -> None:
    stack = make_stack(background=False)
    stack.boto3_client("sqs").send_message(
        QueueUrl=stack.queue_url("WorkQueue"),
        MessageBody='{"id": "r"}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )
    poller = stack.pollers[0]
    messages = poller._receive()

    (record,) = poller.event(messages)["Records"]

    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:123456789012:{STACK}-WorkQueue"
    assert record["awsRegion"] == "us-east-1"
    assert record["body"] == '{"id": "r"}'
    assert record["md5OfBody"] == hashlib.md5(b'{"id": "r"}').hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "kind": {"dataType": "String", "stringValue": "test", "stringListValues": [], "binaryListValues": []}
    }
    assert poller.source.batch_size == 10 and poller.source.report_batch_item_failures


# ---------- schedules ----------


def create_schedule(stack: LocalRuntime, name: str, expression: str, zone: str = "UTC", **extra: Any) -> None:
    stack.boto3_client("scheduler").create_schedule(
        Name=name,
        GroupName=f"{STACK}-jobs",
        ScheduleExpression=expression,
        ScheduleExpressionTimezone=zone,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": stack.function_arn("ScheduledFunction"),
            "RoleArn": stack.function_env["ScheduledFunction"]["JOBS_ROLE_ARN"],
            "Input": json.dumps({"schedule": name}),
        },
        **extra,
    )


def fired_events(stack: LocalRuntime) -> list[dict[str, Any]]:
    return [json.loads(item["event"]["S"]) for item in items(stack, "fired")]


def test_an_at_schedule_fires_once_when_due_and_is_deleted(make_stack: StackFactory) -> None:
    clock = Clock(datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC))
    stack = make_stack(clock=clock)
    create_schedule(stack, "wave-1", "at(2030-01-01T12:00:01)", ActionAfterCompletion="DELETE")

    assert stack.fire_due_schedules() == []
    clock.advance(0.5)
    assert stack.fire_due_schedules() == []
    clock.advance(0.5)
    (firing,) = stack.fire_due_schedules()

    assert firing.name == "wave-1" and firing.occurrence == datetime(2030, 1, 1, 12, 0, 1, tzinfo=UTC)
    assert fired_events(stack) == [{"schedule": "wave-1"}]
    assert stack.boto3_client("scheduler").list_schedules(GroupName=f"{STACK}-jobs")["Schedules"] == []
    clock.advance(3600)
    assert stack.fire_due_schedules() == []
    assert len(fired_events(stack)) == 1


def test_an_at_schedule_in_a_zone_fires_at_its_utc_instant_and_stays_without_delete(
    make_stack: StackFactory,
) -> None:
    clock = Clock(datetime(2030, 1, 1, 3, 44, 59, tzinfo=UTC))
    stack = make_stack(clock=clock)
    create_schedule(stack, "kathmandu", "at(2030-01-01T09:30:00)", zone="Asia/Kathmandu")  # +05:45

    assert stack.fire_due_schedules() == []
    clock.advance(1)
    assert [f.occurrence for f in stack.fire_due_schedules()] == [datetime(2030, 1, 1, 3, 45, tzinfo=UTC)]
    assert stack.fire_due_schedules() == []
    assert len(stack.boto3_client("scheduler").list_schedules(GroupName=f"{STACK}-jobs")["Schedules"]) == 1


def test_a_rate_schedule_fires_each_occurrence_once_from_its_creation_and_catches_up_after_a_jump(
    make_stack: StackFactory,
) -> None:
    start = datetime(2030, 1, 14, 13, 0, tzinfo=UTC)
    clock = Clock(start)
    stack = make_stack(clock=clock)
    create_schedule(stack, "daily", "rate(1 day)")

    assert [f.occurrence for f in stack.fire_due_schedules()] == [start]  # a rate starts at once, as on AWS
    clock.set(start + timedelta(days=1, seconds=-1))
    assert stack.fire_due_schedules() == []
    clock.set(start + timedelta(days=1))
    assert [f.occurrence for f in stack.fire_due_schedules()] == [start + timedelta(days=1)]
    assert stack.fire_due_schedules() == []

    clock.set(start + timedelta(days=3, hours=5))
    fired = [f.occurrence for f in stack.fire_due_schedules()]
    assert fired == [start + timedelta(days=2), start + timedelta(days=3)]
    assert len(fired_events(stack)) == 4


def test_a_cron_schedule_is_refused_naming_its_expression(make_stack: StackFactory) -> None:
    stack = make_stack(clock=Clock(datetime(2030, 1, 1, tzinfo=UTC)))
    create_schedule(stack, "daily", "cron(0 9 * * ? *)")

    with pytest.raises(ValueError, match=re.escape("cron(0 9 * * ? *)")):
        stack.fire_due_schedules()
    stack.boto3_client("scheduler").delete_schedule(Name="daily", GroupName=f"{STACK}-jobs")


def test_drain_with_schedules_runs_a_rate_schedule_until_nothing_is_due(make_stack: StackFactory) -> None:
    clock = Clock(datetime(2030, 5, 1, 0, 0, tzinfo=UTC))
    stack = make_stack(clock=clock, background=False)
    create_schedule(stack, "every-5", "rate(5 minutes)")

    stack.drain(timeout=10, schedules=True)  # a rate schedule starts at once
    clock.advance(600)
    stack.drain(timeout=10, schedules=True)

    assert len(fired_events(stack)) == 3  # at 0, 5 and 10 minutes


def test_a_schedule_can_target_a_queue_and_schedules_of_other_targets_are_left_alone(
    make_stack: StackFactory,
) -> None:
    clock = Clock(datetime(2030, 2, 1, tzinfo=UTC))
    stack = make_stack(clock=clock)
    scheduler = stack.boto3_client("scheduler")
    for name, arn in (
        ("to-queue", f"arn:aws:sqs:us-east-1:123456789012:{STACK}-WorkQueue"),
        ("foreign", "arn:aws:lambda:us-east-1:123456789012:function:another-stack-fn"),
    ):
        scheduler.create_schedule(
            Name=name,
            ScheduleExpression="at(2030-02-01T00:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": arn,
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "Input": '{"id": "scheduled"}',
            },
        )

    assert [f.name for f in stack.fire_due_schedules()] == ["to-queue"]
    stack.drain(timeout=30)

    assert [d["id"] for d in deliveries(stack)] == ["scheduled"]
    assert {s["Name"] for s in scheduler.list_schedules(GroupName="default")["Schedules"]} == {
        "to-queue",
        "foreign",
    }


# ---------- HTTP API ----------


def test_an_http_route_with_a_path_parameter_gets_a_v2_event_and_its_response_comes_back(
    make_stack: StackFactory,
) -> None:
    stack = make_stack()
    reply = httpx.get(
        f"{stack.api_url}/items/abc%20def",
        params=[("x", "1"), ("x", "2"), ("y", "")],
        headers={"X-Trace": "t-1", "Cookie": "a=1; b=2"},
    )

    assert reply.status_code == 200
    assert reply.headers["x-function"] == f"{STACK}-ApiFunction"
    assert reply.headers["set-cookie"] == "session=abc; Path=/"
    body = reply.json()
    event = body["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/abc%20def"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"item_id": "abc def"}
    assert event["headers"]["x-trace"] == "t-1" and "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["http"]["method"] == "GET" and context["http"]["path"] == "/items/abc def"
    assert context["http"]["sourceIp"] == "127.0.0.1" and context["http"]["userAgent"].startswith(
        "python-httpx"
    )
    assert context["routeKey"] == "GET /items/{item_id}" and context["stage"] == "$default"
    assert context["requestId"] and isinstance(context["timeEpoch"], int)
    assert body["greeting"] == f"hello from {STACK}"
    assert body["table"] == f"{STACK}-items"
    assert body["memory"] == 256 and 0 < body["remaining_ms"] <= 10_000


def test_http_routes_bodies_precedence_and_errors(make_stack: StackFactory) -> None:
    stack = make_stack(parameters={"Greeting": "hi"})
    with httpx.Client(base_url=stack.api_url) as client:
        posted = client.post("/items", json={"name": "n"})
        assert posted.status_code == 201
        event = posted.json()["event"]
        assert json.loads(event["body"]) == {"name": "n"} and event["isBase64Encoded"] is False
        assert posted.json()["greeting"] == f"hi from {STACK}"

        raw = client.put(
            "/files/a/b.bin", content=b"\xff\x00", headers={"content-type": "application/octet-stream"}
        )
        event = raw.json()["event"]
        assert event["routeKey"] == "ANY /files/{path+}" and event["pathParameters"] == {"path": "a/b.bin"}
        assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00"

        assert client.get("/items/special").json()["event"]["routeKey"] == "GET /items/special"
        assert client.get("/binary").content == bytes(range(256))
        bare = client.get("/bare")
        assert bare.json() == {"hello": "world"} and bare.headers["content-type"] == "application/json"

        missing = client.get("/nowhere")
        assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
        wrong_method = client.delete("/items")
        assert wrong_method.status_code == 404
        boom = client.get("/boom")
        assert (boom.status_code, boom.json()) == (500, {"message": "Internal Server Error"})


def test_functions_run_concurrently_each_with_its_own_environment(make_stack: StackFactory) -> None:
    stack = make_stack()
    send(stack, *({"id": f"m{i}"} for i in range(20)))
    with httpx.Client(base_url=stack.api_url) as client, ThreadPoolExecutor(4) as pool:
        greetings = set(pool.map(lambda i: client.get(f"/items/{i}").json()["greeting"], range(20)))
    stack.drain(timeout=30)

    assert greetings == {f"hello from {STACK}"}
    seen = deliveries(stack)
    assert len(seen) == 20 and {d["greeting"] for d in seen} == {"-"}


def test_two_stacks_in_one_process_share_moto_and_closing_one_keeps_the_other(
    make_stack: StackFactory,
) -> None:
    first = make_stack(stack_name="rt-one")
    second = make_stack(stack_name="rt-two")
    dynamodb = first.boto3_client("dynamodb")
    assert {"rt-one-items", "rt-two-items"} <= set(dynamodb.list_tables()["TableNames"])

    second.close()

    assert "rt-two-items" not in dynamodb.list_tables()["TableNames"]
    assert first.invoke("ScheduledFunction", {"still": "here"}) == {"ok": True}
    assert fired_events(first) == [{"still": "here"}]
    assert os.environ["AWS_ENDPOINT_URL"] == first.aws_url


def test_invoke_by_logical_id_name_or_arn(make_stack: StackFactory) -> None:
    stack = make_stack()
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{STACK}-scheduled"
    assert stack.function_arn("ScheduledFunction") == arn
    for name in ("ScheduledFunction", f"{STACK}-scheduled", arn, f"{arn}:$LATEST"):
        assert stack.invoke(name, {"via": name}) == {"ok": True}
    assert sorted(e["via"] for e in fired_events(stack)) == sorted(
        ["ScheduledFunction", f"{STACK}-scheduled", arn, f"{arn}:$LATEST"]
    )
    with pytest.raises(KeyError):
        stack.invoke("NoSuchFunction", {})


# ---------- start-up validation ----------


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = TEMPLATE.read_text()
    assert old in text
    handlers = tmp_path / "handlers"
    if not handlers.exists():
        handlers.symlink_to(FIXTURE / "handlers")
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("CodeUri: handlers/worker/", "CodeUri: handlers/missing/", "WorkerFunction"),
        (
            "Handler: app.handler\n      Events:\n        Work",
            "Handler: main.handler\n      Events:\n        Work",
            "WorkerFunction",
        ),
        (
            "Queue: !GetAtt WorkQueue.Arn",
            "Queue: arn:aws:sqs:us-east-1:123456789012:undeclared",
            "undeclared",
        ),
        ("TABLE: !Ref ItemsTable", "TABLE: !Ref MissingTable", "MissingTable"),
        ("deadLetterTargetArn: !GetAtt WorkDLQ.Arn", "deadLetterTargetArn: !GetAtt GoneDLQ.Arn", "GoneDLQ"),
        ('"${AWS::StackName}-jobs"', '"${AWS::StackName}-${NoSuchThing}"', "NoSuchThing"),
    ],
)
def test_bad_template_references_fail_at_start_up_naming_the_resource(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    stack = LocalRuntime(_variant(tmp_path, old, new))
    with pytest.raises(TemplateError, match=named):
        stack.start()
    assert stack.aws_url == ""  # failed before any server started


def test_a_handler_function_that_does_not_exist_fails_at_start_up(tmp_path: Path) -> None:
    path = _variant(
        tmp_path, "Handler: app.handler\n      Timeout: 5", "Handler: app.no_such_handler\n      Timeout: 5"
    )
    with pytest.raises(TemplateError, match=r"ScheduledFunction.*no_such_handler"), LocalRuntime(path):
        pass


# ---------- the real template ----------


def test_tables_created_from_the_real_template_match_its_key_schema_and_indexes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    template = load_template(REAL_TEMPLATE)
    declared = {
        k: v["Properties"]
        for k, v in template.body["Resources"].items()
        if v["Type"] == "AWS::DynamoDB::Table"
    }
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        names = create_tables(template, client)
        assert set(names) == set(declared)
        for logical_id, props in declared.items():
            table = client.describe_table(TableName=names[logical_id])["Table"]
            assert table["KeySchema"] == props["KeySchema"]
            assert sorted(table["AttributeDefinitions"], key=str) == sorted(
                props["AttributeDefinitions"], key=str
            )
            got = {
                i["IndexName"]: (i["KeySchema"], i["Projection"])
                for i in table.get("GlobalSecondaryIndexes", [])
            }
            want = {
                i["IndexName"]: (i["KeySchema"], i["Projection"])
                for i in props.get("GlobalSecondaryIndexes", [])
            }
            assert got == want
            ttl = client.describe_time_to_live(TableName=names[logical_id])["TimeToLiveDescription"]
            if "TimeToLiveSpecification" in props:
                want_ttl = props["TimeToLiveSpecification"]["AttributeName"]  # Powertools' table: expiration
                assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": want_ttl}
            else:
                assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_the_real_template_provisions_on_the_local_stack(make_stack: StackFactory) -> None:
    admin_hash = hashlib.sha256(b"admin").hexdigest()
    # Its own stack name: a session-wide stack on the same template may share this process's moto.
    stack = make_stack(REAL_TEMPLATE, stack_name="pe-smoke", parameters={"AdminKeyHash": admin_hash})
    body = load_template(REAL_TEMPLATE).body["Resources"]

    tables = stack.boto3_client("dynamodb").list_tables()["TableNames"]
    assert sorted(t for t in tables if t.startswith("pe-smoke-")) == sorted(
        f"pe-smoke-{k}" for k, v in body.items() if v["Type"] == "AWS::DynamoDB::Table"
    )

    sqs = stack.boto3_client("sqs")
    for queue, dlq in (("SendQueue", "SendDLQ"), ("AudienceQueue", "AudienceDLQ")):
        attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url(queue), AttributeNames=["All"])[
            "Attributes"
        ]
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:123456789012:pe-smoke-{dlq}",
            "maxReceiveCount": 5,
        }
        assert attributes["VisibilityTimeout"] == str(body[queue]["Properties"]["VisibilityTimeout"])
        sqs.get_queue_attributes(QueueUrl=stack.queue_url(dlq), AttributeNames=["QueueArn"])

    groups = stack.boto3_client("scheduler").list_schedule_groups()["ScheduleGroups"]
    assert "pe-smoke-campaigns" in {g["Name"] for g in groups}
    role = stack.boto3_client("iam").get_role(RoleName="pe-smoke-SchedulerRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::123456789012:role/pe-smoke-SchedulerRole"

    env = stack.function_env["SenderFunction"]
    assert env["ADMIN_KEY_HASH"] == admin_hash and env["SEND_QUEUE_URL"] == stack.queue_url("SendQueue")
    assert env["SCHEDULER_ROLE_ARN"] == role["Arn"]
    assert env["SEGMENT_QUERY_FUNCTION_ARN"] == stack.function_arn("SegmentQueryFunction")
    assert env["AWS_ENDPOINT_URL"] == stack.aws_url
    sources = {
        (p.source.function.spec.logical_id, p.source.queue_logical_id, p.source.batch_size)
        for p in stack.pollers
    }
    assert sources == {("SegmentQueryFunction", "AudienceQueue", 5), ("SenderFunction", "SendQueue", 10),
                       ("JobsFunction", "JobsQueue", 1)}  # fmt: skip
