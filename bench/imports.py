"""Device import rate: on the strict local stack, or the engine alone.

Local stack: a JSONL of N devices in the embedded S3, `POST /v1/devices/import {s3_uri}`, timed to the drained
jobs queue; prints the rate and the process CPU (the handler's main thread apart from moto and the server).
Measured twice: with the stack's threads on every CPU, then on one CPU as `make bench` measures. The stack
is one Python process whose threads share one interpreter lock; spread over cores, each hand-over of the
lock (a writer thread to the server thread and back, every request) crosses cores, which costs CPU.
`--engine-only`: the real `imports.run_import` with every AWS call answered in memory where botocore would
send it (Endpoint._send): parsing, validation, item building, request serialization, signing and response
parsing are all paid, the server's work is not; prints the engine's CPU per line.

python -m bench.imports [--lines 20000] [--engine-only | --once | --cpu N]   (py-spy: `py-spy record --gil -- python -m ...`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ZONES = ["UTC", "Europe/Paris", "Asia/Tokyo"]


def jsonl(lines: int) -> bytes:
    rows = [json.dumps({"device_id": f"dev-{n}", "platform": "android", "token": f"tok-{n:07d}" * 8,
                        "timezone": ZONES[n % 3], "locale": "en-GB", "tags": {"plan": "free"}})
            for n in range(1, lines + 1)]  # fmt: skip
    return ("\n".join(rows) + "\n").encode()


def on_local_stack(lines: int) -> None:
    import httpx

    from samlocal import LocalRuntime

    admin = "bench-admin-key-" + "x" * 32
    body = jsonl(lines)

    params = {"AdminKeyHash": hashlib.sha256(admin.encode()).hexdigest(), "ShardCount": "4"}
    with LocalRuntime(ROOT / "template.yaml", parameters=params, visibility_timeout=1, background=False,
                    strict=True) as stack:  # fmt: skip
        api = httpx.Client(base_url=stack.api_url, timeout=120)
        app = api.post(
            "/v1/apps", json={"name": "bench"}, headers={"authorization": f"Bearer {admin}"}
        ).json()
        server = {"authorization": f"Bearer {app['server_key']}"}
        bucket = stack.bucket_name("ImportBucket")
        stack.boto3_client("s3").put_object(Bucket=bucket, Key="in/devices.jsonl", Body=body)
        wall, cpu, main = time.monotonic(), time.process_time(), time.thread_time()
        r = api.post("/v1/devices/import", json={"s3_uri": f"s3://{bucket}/in/devices.jsonl"}, headers=server)
        stack.drain(timeout=3600)
        wall, cpu, main = time.monotonic() - wall, time.process_time() - cpu, time.thread_time() - main
        job = api.get(f"/v1/devices/import/{r.json()['import_id']}", headers=server).json()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "every"
    print(f"local stack on CPU {cpus}: {lines} lines ({len(body) / 1e6:.1f} MB) in {wall:.1f} s: {job['done'] / wall:,.0f} "
          f"devices/s ({job['status']}, {job['done']} done); process CPU {cpu:.1f} s, of which the handler's "
          f"main thread {main:.1f} s (its writer threads count with moto and the server)")  # fmt: skip


def engine_only(lines: int) -> None:
    os.environ.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x",
                      AWS_SECRET_ACCESS_KEY="x", DATA_BUCKET="data", JOBS_QUEUE_URL="http://127.0.0.1:9/q")  # fmt: skip
    import botocore.endpoint
    from botocore.awsrequest import AWSResponse

    from pushengine import imports

    data = jsonl(lines)
    calls: dict[str, int] = {}

    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body, self.at = body, 0

        def stream(self, *_: Any, **__: Any) -> Any:
            yield self.body

        def read(self, n: int | None = -1, **_: Any) -> bytes:
            out = self.body[self.at :] if n is None or n < 0 else self.body[self.at : self.at + n]
            self.at += len(out)
            return out

    def answer(_endpoint: Any, request: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target", b"")
        op = (target.decode() if isinstance(target, bytes) else target).split(".")[
            -1
        ] or f"S3 {request.method}"
        calls[op] = calls.get(op, 0) + 1
        headers: dict[str, str] = {}
        status = 200
        if op == "BatchGetItem":  # a fresh import: no current items
            table = next(iter(json.loads(request.body)["RequestItems"]))
            body = json.dumps({"Responses": {table: []}, "UnprocessedKeys": {}}).encode()
        elif op == "BatchWriteItem":
            body = b'{"UnprocessedItems": {}}'
        elif op in ("UpdateItem", "PutItem", "TransactWriteItems", "GetItem"):
            body = b"{}"
        elif op == "S3 GET":
            start, end = map(int, request.headers["Range"].decode().split("=")[1].split("-"))
            body, status = data[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        else:
            raise RuntimeError(f"unexpected call {op}")
        return AWSResponse(request.url, status, {**headers, "Content-Length": str(len(body))}, Raw(body))

    botocore.endpoint.Endpoint._send = answer  # type: ignore[method-assign]
    deps = imports.default_deps()
    step = {"kind": "import", "app_id": "app_1", "import_id": "imp_1", "bucket": "data", "key": "f.jsonl",
            "format": "jsonl", "offset": 0, "line": 0}  # fmt: skip
    wall, cpu = time.perf_counter(), time.process_time()
    imports.run_import(deps, step, lambda: 10**9)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"engine only: {lines} lines in {cpu:.2f} s of CPU ({wall:.2f} s wall): {lines / cpu:,.0f} lines/s, "
          f"{1e6 * cpu / lines:.0f} µs a line; AWS calls {calls}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--engine-only", action="store_true")
    parser.add_argument("--cpu", type=int, help="this run on one CPU only (a local stack run per process)")
    parser.add_argument("--once", action="store_true", help="one local stack run, on the CPUs given")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared")]
    if args.engine_only:
        engine_only(args.lines)
        return
    if args.once or args.cpu is not None or not hasattr(os, "sched_getaffinity"):
        on_local_stack(args.lines)
        return
    run = [sys.executable, "-m", "bench.imports", "--lines", str(args.lines)]
    subprocess.run([*run, "--once"], check=True, cwd=ROOT)
    if len(os.sched_getaffinity(0)) > 1:
        subprocess.run([*run, "--cpu", str(min(os.sched_getaffinity(0)))], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
