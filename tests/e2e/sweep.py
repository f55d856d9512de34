"""The erasure sweep: where any of some strings (a user's ids, push addresses, event data) appears in the
local stack: every item of every table, every message of every queue (dead-letter queues included), every
schedule's target, every object of every bucket."""

from __future__ import annotations

import gzip
import json
from typing import Any

from tests.conftest import dynamodb


def _tables(stack: Any, needles: list[str]) -> list[str]:
    found = []
    for table in dynamodb(stack).tables.all():
        keys = [k["AttributeName"] for k in table.key_schema]
        kwargs: dict[str, Any] = {}
        while True:
            page = table.scan(**kwargs)
            for item in page["Items"]:
                text = json.dumps(item, default=str)
                where = "|".join(str(item.get(k)) for k in keys)
                found += [f"{table.name} {where}: {needle}" for needle in needles if needle in text]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def _queues(stack: Any, needles: list[str]) -> list[str]:
    found = []
    sqs = stack.boto3_client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        held = []  # every message, each once: held invisible while the queue is read, then released
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                         WaitTimeSeconds=1).get("Messages", []):  # fmt: skip
            for message in got:
                found += [f"{url}: {needle}" for needle in needles if needle in message["Body"]]
                held.append(message["ReceiptHandle"])
        for handle in held:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return found


def _schedules(stack: Any, needles: list[str]) -> list[str]:
    found = []
    scheduler = stack.boto3_client("scheduler")
    for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group["Name"]):
            for schedule in page["Schedules"]:
                got = scheduler.get_schedule(Name=schedule["Name"], GroupName=group["Name"])
                text = json.dumps({"name": got["Name"], "target": got["Target"]}, default=str)
                found += [f"schedule {schedule['Name']}: {n}" for n in needles if n in text]
    return found


def _objects(stack: Any, needles: list[str]) -> list[str]:
    found = []
    s3 = stack.boto3_client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                raw = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
                if raw[:2] == b"\x1f\x8b":  # the firehose export's gzipped JSON lines
                    raw = gzip.decompress(raw)
                body = f"{obj['Key']}\n{raw.decode('utf-8', 'replace')}"
                found += [f"s3://{bucket['Name']}/{obj['Key']}: {n}" for n in needles if n in body]
    return found


def scan_everything(stack: Any, needles: list[str]) -> list[str]:
    """Where any needle appears, as "<place>: <needle>" (one entry per place and needle)."""
    return [
        *_tables(stack, needles),
        *_queues(stack, needles),
        *_schedules(stack, needles),
        *_objects(stack, needles),
    ]
