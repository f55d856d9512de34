"""Bulk import and export of devices, run as jobs on the jobs queue.

Import: the file (JSONL, one `{"device_id", ...device body}` a line, or CSV with a header row; dotted
columns nest: `subscription.keys.p256dh`, `tags.plan`; `tags.*` and `attributes.*` cells are typed as JSON
would carry them, `csv_value`) is read from S3 a stretch at a time; every valid
line lands (25 devices per BatchWriteItem), a bad line is counted with its line number and reason, and
each stretch counts once (a ledger item per stretch). Export: the app's active devices, partition by
partition, as JSONL in one multipart S3 object; the POST answers its presigned URL at once, which serves
the file once the job completes the upload (and 404 before).
"""

from __future__ import annotations

import csv
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from pushengine import anniversaries, webpush_keys
from pushengine.config import Settings
from pushengine.dal import objects
from pushengine.dal.apps import AppsRepository
from pushengine.dal.automation import AutomationRepository
from pushengine.dal.devices import DevicesRepository, public_view
from pushengine.dal.jobs import JobsRepository
from pushengine.dal.queues import SqsQueue, send_json
from pushengine.errors import InvalidInput, NotFound
from pushengine.http import field_errors
from pushengine.models import DeviceId, DeviceIn
from pushengine.ports import Queue

MEDIA_FORMATS = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/csv": "csv"}
CHUNK_BYTES = 1 << 20  # read per S3 request
MIN_STEP_MILLIS = 20_000  # leave this much of an invocation to count the stretch and queue the next
PART_BYTES = 5 << 20  # S3's smallest multipart part (but the last)
URL_SECONDS = 3600
_device_id = TypeAdapter(DeviceId)
Format = Literal["jsonl", "csv"]


class ImportFromS3(BaseModel):
    """`{"s3_uri", "format"}`: an object of the stack's import bucket, the only bucket an import reads.
    Validate with `context={"import_bucket": name}` (no bucket: every s3_uri is refused)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    s3_uri: Annotated[str, StringConstraints(min_length=8, max_length=1100)]
    format: Format = "jsonl"

    @field_validator("s3_uri")
    @classmethod
    def _in_import_bucket(cls, uri: str, info: ValidationInfo) -> str:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket or not key:
            raise ValueError("must look like s3://bucket/key")
        allowed = str((info.context or {}).get("import_bucket") or "")
        if bucket != allowed:
            where = f"s3://{allowed}/" if allowed else "the stack's import bucket (none is configured)"
            raise ValueError(f"imports read only the stack's import bucket: put the file under {where}")
        return uri

    @property
    def location(self) -> tuple[str, str]:
        """(bucket, key)."""
        bucket, _, key = self.s3_uri.removeprefix("s3://").partition("/")
        return bucket, key


class LineError(BaseModel):
    line: int
    field: str
    reason: str


class ImportOut(BaseModel):
    import_id: str
    status: str
    total: int | None = None  # lines, when known (inline uploads at once; S3 objects when read)
    done: int = 0
    failed: int = 0
    errors: list[LineError] = []


class ExportOut(BaseModel):
    export_id: str
    status: str
    devices: int = 0
    # A presigned GET of the JSONL object, answered at once: S3 answers 404 (NoSuchKey) until the job
    # completes the upload, then the file. GET /v1/devices/export/{id} signs a fresh one.
    url: str


@dataclass
class JobDeps:
    settings: Settings
    jobs: JobsRepository
    devices: DevicesRepository
    apps: AppsRepository | None = None  # the declared date attributes an import indexes
    automation: AutomationRepository | None = None
    queue: Queue = field(default_factory=SqsQueue)

    def index(self) -> anniversaries.IndexDeps:
        assert self.automation is not None
        return anniversaries.IndexDeps(settings=self.settings, devices=self.devices, automation=self.automation,
                                       jobs=self.jobs, queue=self.queue)  # fmt: skip


# ---------- import: the API side ----------
def start_inline(deps: JobDeps, app_id: str, raw: bytes, fmt: str) -> ImportOut:
    import_id = "imp_" + secrets.token_hex(8)
    key = f"imports/{app_id}/{import_id}.{fmt}"
    objects.put(deps.settings.data_bucket, key, raw, "text/csv" if fmt == "csv" else "application/x-ndjson")
    lines = sum(1 for line in raw.splitlines() if line.strip()) - (1 if fmt == "csv" else 0)
    return _start(deps, app_id, import_id, deps.settings.data_bucket, key, fmt, max(0, lines), inline=True)


def parse_s3_import(settings: Settings, raw: object) -> ImportFromS3:
    """The JSON body of an S3 import, held to the stack's import bucket (a 400 naming body.s3_uri)."""
    return ImportFromS3.model_validate(raw, context={"import_bucket": settings.import_bucket})


def start_from_s3(deps: JobDeps, app_id: str, body: ImportFromS3) -> ImportOut:
    bucket, key = body.location
    objects.size(bucket, key)  # readable by the stack, or a 400 now rather than a failed job
    return _start(deps, app_id, "imp_" + secrets.token_hex(8), bucket, key, body.format, None)


def _start(
    deps: JobDeps, app_id: str, import_id: str, bucket: str, key: str, fmt: str, total: int | None,
    *, inline: bool = False,
) -> ImportOut:  # fmt: skip
    deps.jobs.create("import", app_id, import_id, {"done": 0, "failed": 0, "errors": [],
                                                   **({"total": total} if total is not None else {})})  # fmt: skip
    step = {"kind": "import", "app_id": app_id, "import_id": import_id, "bucket": bucket, "key": key,
            "format": fmt, "offset": 0, "line": 0, **({"inline": True} if inline else {})}  # fmt: skip
    send_json(deps.settings.jobs_queue_url, [step], max_message=deps.settings.max_message_bytes)
    return ImportOut(import_id=import_id, status="running", total=total)


def get_import(deps: JobDeps, app_id: str, import_id: str) -> ImportOut:
    job = deps.jobs.get("import", app_id, import_id)
    if job is None:
        raise NotFound("import not found", field="import_id")
    return ImportOut.model_validate({"import_id": import_id, **job})


# ---------- import: one line ----------
TYPED_MAPS = ("tags", "attributes")  # free-form maps whose CSV cells are typed as JSON would carry them
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
MAX_NUMBER_CHARS = 64  # a longer cell of digits stays text (an id, not an amount)


def csv_value(text: str) -> str | bool | int | float:
    """A `tags.*` / `attributes.*` cell as the same value in a JSON line would be stored: `true`/`false` are
    booleans, a number written as JSON writes numbers (`42`, `-3.5`, `1e3`) is a number; anything else stays
    the text it is, so leading zeros (`02134`, a zip code), `+1`, `.5`, `1,000` or `NaN` stay strings."""
    if text in ("true", "false"):
        return text == "true"
    if len(text) <= MAX_NUMBER_CHARS and _JSON_NUMBER.fullmatch(text):
        number: int | float = json.loads(text)
        return number
    return text


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        if value == "" or name is None:
            continue
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = csv_value(value) if len(parents) == 1 and parents[0] in TYPED_MAPS else value
    return out


def parse_line(
    fmt: str, text: str, header: list[str] | None, declared: Sequence[str] = ()
) -> tuple[str, dict[str, Any]]:
    """(device_id, stored fields) of one line; raises LineProblem naming the field and reason. A declared
    date attribute must hold a date, as at registration."""
    if fmt == "csv":
        row = next(csv.reader([text]))
        if header is None or len(row) != len(header):
            raise LineProblem("line", f"{len(row)} columns; the header has {len(header or [])}")
        record = _nest(dict(zip(header, row, strict=True)))
    else:
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise LineProblem("line", f"not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise LineProblem("line", "must be a JSON object")
    device_id = record.pop("device_id", None)
    try:
        device_id = _device_id.validate_python(device_id)
    except ValidationError:
        raise LineProblem("device_id", "required: 1-128 of A-Z a-z 0-9 . _ : @ -") from None
    try:
        device = DeviceIn.model_validate(record)
    except ValidationError as exc:
        first = field_errors(exc)[0]  # the API's own naming of a field and its reason
        raise LineProblem(first["field"] or "line", first["reason"]) from None
    try:
        anniversaries.check_device(list(declared), device.attributes)
    except InvalidInput as exc:
        raise LineProblem((exc.field or "line").removeprefix("body."), str(exc)) from None
    return device_id, device.model_dump(exclude_none=True, mode="json")  # numbers as JSON has them


class LineProblem(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason[:300]


# ---------- import: one step of the job ----------
def run_import(deps: JobDeps, step: dict[str, Any], remaining_millis: Callable[[], int]) -> None:
    app_id, import_id = step["app_id"], step["import_id"]
    offset, line, header = int(step["offset"]), int(step["line"]), step.get("header")
    declared = anniversaries.declared(deps.apps, app_id)  # indexed for anniversaries, as at registration
    webpush_hosts = deps.settings.allowed_webpush_hosts  # what the lines' subscriptions are held to
    while True:
        try:
            data = objects.read_range(step["bucket"], step["key"], offset, CHUNK_BYTES)
        except objects.Gone:
            job = deps.jobs.get("import", app_id, import_id) or {}
            if step.get("inline") and job.get("status") == "completed":
                return  # a redelivered last step: the file was read to its end and deleted
            raise
        at_end = len(data) < CHUNK_BYTES
        usable = data if at_end else data[: data.rfind(b"\n") + 1]
        if not usable and not at_end:  # a single line longer than a chunk
            usable = data
        registrations: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, Any]] = []
        failed = 0
        lines = usable.split(b"\n")
        if usable.endswith(b"\n"):
            lines.pop()  # the newline ends the last line; nothing follows it
        for raw in lines:
            line += 1
            if not raw.strip():
                continue
            text = raw.decode("utf-8", "replace").rstrip("\r")
            if step["format"] == "csv" and header is None:
                header = next(csv.reader([text]))
                continue
            try:
                with webpush_keys.allowing(webpush_hosts):
                    device_id, fields = parse_line(step["format"], text, header, declared)
            except LineProblem as exc:
                failed += 1
                errors.append({"line": line, "field": exc.field, "reason": exc.reason})
                continue
            registrations[device_id] = fields  # a repeated id: the later line wins
        if registrations:
            replaced = deps.devices.put_many(app_id, registrations)
            if declared and deps.automation is not None:
                for device_id, fields in registrations.items():
                    anniversaries.reindex(deps.automation, app_id, device_id, replaced.get(device_id), fields, declared)
        finished = at_end
        done = {"status": "completed"} if finished else None
        deps.jobs.step("import", app_id, import_id, str(offset), add={"done": len(registrations), "failed": failed},
                       errors=errors, done=done)  # fmt: skip
        offset += len(usable)
        if finished:
            _fix_total(deps, app_id, import_id)
            if step.get("inline"):  # our copy of the upload goes once every line is in
                objects.delete(step["bucket"], step["key"])
            return
        if remaining_millis() < MIN_STEP_MILLIS:
            nxt = {**step, "offset": offset, "line": line, **({"header": header} if header else {})}
            send_json(deps.settings.jobs_queue_url, [nxt], max_message=deps.settings.max_message_bytes)
            return


def _fix_total(deps: JobDeps, app_id: str, import_id: str) -> None:
    """An S3 import learns its total at the end: the lines that were devices, good or bad."""
    job = deps.jobs.get("import", app_id, import_id) or {}
    if job.get("total") is None:
        deps.jobs.step("import", app_id, import_id, "total", add={},
                       done={"total": int(job.get("done", 0)) + int(job.get("failed", 0))})  # fmt: skip


class IndexJobOut(BaseModel):
    job_id: str
    status: str
    attribute: str
    read: int = 0  # devices read so far
    indexed: int = 0  # of them, those holding a date in the attribute


def get_index_job(deps: JobDeps, app_id: str, job_id: str) -> IndexJobOut:
    job = deps.jobs.get(anniversaries.JOB, app_id, job_id)
    if job is None:
        raise NotFound("index job not found", field="job_id")
    return IndexJobOut.model_validate({"job_id": job_id, **job})


# ---------- export ----------
def start_export(deps: JobDeps, app_id: str) -> ExportOut:
    export_id = "exp_" + secrets.token_hex(8)
    key = f"exports/{app_id}/{export_id}.jsonl"
    deps.jobs.create("export", app_id, export_id, {"devices": 0, "key": key})
    zones = sorted(deps.devices.zones(app_id))
    step = {"kind": "export", "app_id": app_id, "export_id": export_id, "key": key, "zones": zones,
            "zone": 0, "shard": 0, "cursor": None, "seq": 0}  # fmt: skip
    send_json(deps.settings.jobs_queue_url, [step], max_message=deps.settings.max_message_bytes)
    url = objects.presigned(deps.settings.data_bucket, key, URL_SECONDS)
    return ExportOut(export_id=export_id, status="running", url=url)


def get_export(deps: JobDeps, app_id: str, export_id: str) -> ExportOut:
    job = deps.jobs.get("export", app_id, export_id)
    if job is None:
        raise NotFound("export not found", field="export_id")
    url = objects.presigned(deps.settings.data_bucket, job["key"], URL_SECONDS)
    return ExportOut(export_id=export_id, status=job["status"], devices=int(job.get("devices", 0)), url=url)


def run_export(deps: JobDeps, step: dict[str, Any], remaining_millis: Callable[[], int]) -> None:
    """Read partitions in order into the multipart upload; what is short of a part is carried in a
    side object to the next step, so every part but the last is at least PART_BYTES."""
    s = deps.settings
    app_id, bucket = step["app_id"], s.data_bucket
    upload = objects.Upload(bucket, step["key"], step.get("upload_id"), step.get("parts"))
    carry_key = f"{step['key']}.carry"
    buffer = bytearray(objects.read_range(bucket, carry_key, 0, PART_BYTES * 2) if step.get("carry") else b"")
    zones, zi, shard, cursor = step["zones"], int(step["zone"]), int(step["shard"]), step.get("cursor")
    count = 0
    while zi < len(zones):
        items, cursor = deps.devices.partition_page(
            app_id, zones[zi], limit=1000, start=cursor
        )  # a whole zone
        for item in items:
            buffer += json.dumps(public_view(item), separators=(",", ":"), default=str).encode() + b"\n"
        count += len(items)
        if len(buffer) >= PART_BYTES:
            upload.add(bytes(buffer))
            buffer.clear()
        if cursor is None:
            zi, shard = zi + 1, 0
        if zi < len(zones) and remaining_millis() < MIN_STEP_MILLIS:
            if buffer:
                objects.put(bucket, carry_key, bytes(buffer), "application/x-ndjson")
            nxt = {**step, "zone": zi, "shard": shard, "cursor": cursor, "seq": step["seq"] + 1,
                   "upload_id": upload.upload_id, "parts": upload.parts, "carry": bool(buffer)}  # fmt: skip
            deps.jobs.step("export", app_id, step["export_id"], str(step["seq"]), add={"devices": count})
            send_json(s.jobs_queue_url, [nxt], max_message=s.max_message_bytes)
            return
    if buffer:
        upload.add(bytes(buffer))
    upload.complete()
    if step.get("carry"):
        objects.delete(bucket, carry_key)
    deps.jobs.step("export", app_id, step["export_id"], str(step["seq"]), add={"devices": count},
                   done={"status": "completed"})  # fmt: skip


def handle(deps: JobDeps, step: dict[str, Any], remaining_millis: Callable[[], int]) -> None:
    if step.get("kind") == "import":
        run_import(deps, step, remaining_millis)
    elif step.get("kind") == anniversaries.JOB:
        anniversaries.run_index(deps.index(), step, remaining_millis)
    elif step.get("kind") == "export":
        run_export(deps, step, remaining_millis)
    else:
        raise InvalidInput(f"unknown job step {step.get('kind')!r}", field="kind")


def default_deps() -> JobDeps:
    """The jobs' adapters (pushengine.bootstrap)."""
    from pushengine.bootstrap import adapters

    a = adapters()
    return JobDeps(settings=a.settings, jobs=a.jobs, devices=a.devices, apps=a.apps, automation=a.automation,
                   queue=a.queue)  # fmt: skip
