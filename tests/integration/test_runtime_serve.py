"""`python -m local.serve` as a process: readiness lines, environment wiring, clean stop on SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    with serving({}) as started:
        yield started


@contextmanager
def serving(extra: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}",
        "TEMPLATE": str(TEMPLATE),
        "PORT": str(free_port()),
        "AWS_PORT": str(free_port()),
        "APNS_ENDPOINT": "http://127.0.0.1:9/apns",
        "WEBPUSH_ALLOWED_HOSTS": "127.0.0.1:8443,*.push.example",
    }
    # A session stack of the e2e tier may be up in this process: its endpoint and switches are not ours.
    for inherited in ("PUSH_ADMIN_KEY", "AWS_ENDPOINT_URL", "STRICT_AWS", "STRICT_AWS_FAULTS"):
        env.pop(inherited, None)
    env.update(extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "local.serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        yield process, env
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_serve_prints_its_urls_wires_the_environment_and_stops_on_sigterm(
    serve: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    process, env = serve
    assert process.stdout is not None
    key_line, api_line, aws_line = (process.stdout.readline().strip() for _ in range(3))

    assert key_line.startswith("PUSH_ADMIN_KEY ") and len(key_line.split()[1]) >= 32
    assert api_line == f"API http://127.0.0.1:{env['PORT']}"
    assert aws_line == f"AWS http://127.0.0.1:{env['AWS_PORT']}"
    reply = httpx.get(f"http://127.0.0.1:{env['PORT']}/items/42", timeout=10)
    assert reply.status_code == 200
    seen = reply.json()["env"]
    assert seen["ADMIN_KEY_HASH"] == hashlib.sha256(key_line.split()[1].encode()).hexdigest()
    assert seen["APNS_ENDPOINT"] == "http://127.0.0.1:9/apns"
    assert seen["WEBPUSH_ALLOWED_HOSTS"] == "127.0.0.1:8443,*.push.example"
    sqs = boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{env['AWS_PORT']}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert [url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"]] == [
        "push-engine-WorkDLQ",
        "push-engine-WorkQueue",
    ]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def aws_client(service: str, url: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def test_serve_with_strict_aws_enforces_sqs_byte_limits() -> None:
    with serving({"STRICT_AWS": "1", "STRICT_AWS_FAULTS": "none"}) as (process, env):
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert lines[2] == f"AWS http://127.0.0.1:{env['AWS_PORT']}"
        sqs = aws_client("sqs", f"http://127.0.0.1:{env['AWS_PORT']}")
        url = sqs.get_queue_url(QueueName="push-engine-WorkQueue")["QueueUrl"]
        entries = [{"Id": str(i), "MessageBody": "é" * 60_000} for i in range(10)]  # 1.2 MB of UTF-8
        with pytest.raises(ClientError) as refused:
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert refused.value.response["Error"]["Code"] == "AWS.SimpleQueueService.BatchRequestTooLong"


def test_serve_with_aws_endpoint_url_provisions_there() -> None:
    from moto.server import ThreadedMotoServer

    outside = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    outside.start()
    host, port = outside.get_host_and_port()
    try:
        with serving({"AWS_ENDPOINT_URL": f"http://{host}:{port}"}) as (process, _env):
            assert process.stdout is not None
            lines = [process.stdout.readline().strip() for _ in range(3)]
            assert lines[2] == f"AWS http://{host}:{port}"
            queues = aws_client("sqs", f"http://{host}:{port}").list_queues()["QueueUrls"]
            assert {q.rsplit("/", 1)[1] for q in queues} >= {"push-engine-WorkQueue", "push-engine-WorkDLQ"}
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert aws_client("sqs", f"http://{host}:{port}").list_queues().get("QueueUrls", []) == []
    finally:
        outside.stop()
