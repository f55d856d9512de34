"""Ships export records (pushengine.export) to where the template's EventExport parameter points.

`EVENT_EXPORT` is `firehose:<delivery stream>` (Firehose buffers them into S3 as JSON lines),
`eventbridge:<bus>` (one event each, detail-type `push-engine.<type>`), `s3:<bucket>` (the local stack's
emulation: one JSON-lines object per unit, under the hour prefix Firehose would use, named by the unit so
a unit written again replaces its object), or empty: off.
Limits obeyed: PutRecordBatch 500 records / 4 MiB, PutEvents 10 entries / 256 KB; failed entries are
sent again with backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from pushengine.dal import aws
from pushengine.export import ExportUnit

FIREHOSE_RECORDS, FIREHOSE_BYTES = 500, 4 * 1024 * 1024
EVENTBRIDGE_ENTRIES, EVENTBRIDGE_BYTES = 10, 256 * 1024
ATTEMPTS = 5


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _chunks(lines: Sequence[bytes], count: int, size: int) -> list[list[bytes]]:
    out: list[list[bytes]] = [[]]
    used = 0
    for line in lines:
        if out[-1] and (len(out[-1]) >= count or used + len(line) > size):
            out.append([])
            used = 0
        out[-1].append(line)
        used += len(line)
    return [c for c in out if c]


def object_key(unit: ExportUnit) -> str:
    return f"events/{unit.at:%Y/%m/%d/%H}/{unit.name}.jsonl"


class EventExport:
    def __init__(self, target: str) -> None:
        self.kind, _, self.name = target.partition(":")
        if self.kind not in ("", "firehose", "eventbridge", "s3") or (self.kind and not self.name):
            raise ValueError(
                f"EVENT_EXPORT {target!r}: expected firehose:<stream>, eventbridge:<bus>, s3:<bucket>"
            )

    @property
    def enabled(self) -> bool:
        return bool(self.kind)

    def put(self, unit: ExportUnit) -> None:
        if not self.kind or not unit.records:
            return
        lines = [_line(r) for r in unit.records]
        if self.kind == "firehose":
            for chunk in _chunks(lines, FIREHOSE_RECORDS, FIREHOSE_BYTES):
                self._firehose(chunk)
        elif self.kind == "eventbridge":
            for chunk in _chunks(lines, EVENTBRIDGE_ENTRIES, EVENTBRIDGE_BYTES):
                self._eventbridge(chunk)
        else:
            aws.client("s3").put_object(
                Bucket=self.name,
                Key=object_key(unit),
                Body=b"".join(lines),
                ContentType="application/x-ndjson",
            )

    def _firehose(self, lines: list[bytes]) -> None:
        for attempt in range(ATTEMPTS):
            got = aws.client("firehose").put_record_batch(
                DeliveryStreamName=self.name, Records=[{"Data": line} for line in lines]
            )
            if not got.get("FailedPutCount"):
                return
            lines = [
                line for line, r in zip(lines, got["RequestResponses"], strict=True) if r.get("ErrorCode")
            ]
            time.sleep(aws.backoff(attempt))
        raise aws.Contended(f"{len(lines)} export records still refused by Firehose")

    def _eventbridge(self, lines: list[bytes]) -> None:
        entries = [{"Source": "push-engine", "DetailType": f"push-engine.{json.loads(line)['type']}",
                    "Detail": line.decode().rstrip("\n"), "EventBusName": self.name} for line in lines]  # fmt: skip
        for attempt in range(ATTEMPTS):
            got = aws.client("events").put_events(Entries=entries)
            if not got.get("FailedEntryCount"):
                return
            entries = [e for e, r in zip(entries, got["Entries"], strict=True) if r.get("ErrorCode")]
            time.sleep(aws.backoff(attempt))
        raise aws.Contended(f"{len(entries)} export events still refused by EventBridge")
