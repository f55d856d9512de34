"""`python -m local.serve` as a process: readiness lines, environment wiring, clean stop on SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}",
        "TEMPLATE": str(TEMPLATE),
        "PORT": str(free_port()),
        "AWS_PORT": str(free_port()),
        "APNS_ENDPOINT": "http://127.0.0.1:9/apns",
        "WEBPUSH_ALLOWED_HOSTS": "127.0.0.1:8443,*.push.example",
    }
    env.pop("PUSH_ADMIN_KEY", None)
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
