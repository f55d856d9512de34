"""The embedded AWS endpoint keeps connections alive: a client's requests share one connection."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from samlocal import embedded_aws
from samlocal.embedded_aws import EmbeddedAws


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmbeddedAws, list[int]]]:
    """A strict endpoint and the number of connections it has accepted so far."""
    opened = [0]
    setup = embedded_aws._KeepAliveHandler.setup

    def counted(handler: Any) -> None:
        opened[0] += 1
        setup(handler)
        # a kept connection's answers go out at once, not after the client's delayed ACK (Nagle)
        assert handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

    monkeypatch.setattr(embedded_aws._KeepAliveHandler, "setup", counted)
    server = EmbeddedAws(limits=True)
    server.start()
    try:
        yield server, opened
    finally:
        server.stop()


def client(server: EmbeddedAws, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(max_pool_connections=1, retries={"max_attempts": 1}))  # fmt: skip


def test_requests_with_bodies_reuse_one_connection_and_none_is_lost(served: tuple[EmbeddedAws, list[int]]) -> None:
    server, opened = served
    dynamodb, sqs = client(server, "dynamodb"), client(server, "sqs")
    dynamodb.create_table(TableName="kept", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")  # fmt: skip
    queue = sqs.create_queue(QueueName="kept")["QueueUrl"]
    for n in range(40):  # back to back: each request follows its predecessor's answer at once
        dynamodb.put_item(TableName="kept", Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}})
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{n}")
    got = [dynamodb.get_item(TableName="kept", Key={"pk": {"S": f"k{n}"}})["Item"]["n"]["N"] for n in range(40)]
    assert got == [str(n) for n in range(40)]
    assert int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"]) == 40  # fmt: skip
    assert opened[0] == 2  # one per client, for 123 requests


def test_a_body_the_door_does_not_read_closes_its_connection(served: tuple[EmbeddedAws, list[int]]) -> None:
    """S3 bodies pass the door unread: that connection closes (nothing left over is taken as a request)."""
    server, opened = served
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="kept")
    for n in range(3):
        s3.put_object(Bucket="kept", Key=f"o{n}", Body=b"x" * 1000)
    assert [s3.get_object(Bucket="kept", Key=f"o{n}")["Body"].read() for n in range(3)] == [b"x" * 1000] * 3
    assert opened[0] >= 4  # each put_object ended its connection
