"""Routes of bulk device import and export (server key), served by the devices function.

An import's body is the file itself (application/x-ndjson or text/csv, up to MAX_IMPORT_BODY_BYTES), or
JSON `{"s3_uri", "format"}` naming an object of the stack's import bucket (any other bucket is a 400); so
the route reads its body itself, with its own size cap, rather than through the JSON edge."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from pushengine import idempotency, imports
from pushengine.errors import BodyTooLarge, InvalidInput, UnsupportedMediaType
from pushengine.http import ApiRouter, _raw_body, caller, json_object
from pushengine.limits import MAX_IMPORT_BODY_BYTES

router = ApiRouter()
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
deps = cache(imports.default_deps)


@router.api(
    "POST", "/v1/devices/import", keys=["server"], status=202, answers=[400, 409, 413, 415, 422],
    summary="Import devices as a job: a JSONL or CSV body, or JSON {s3_uri, format} naming an object of the "
            "stack's import bucket (Idempotency-Key honoured)",
)  # fmt: skip
def import_devices() -> Response[imports.ImportOut]:
    event = router.current_event
    raw = _raw_body(event.raw_event)
    if len(raw) > MAX_IMPORT_BODY_BYTES:
        raise BodyTooLarge(f"the body is {len(raw)} bytes; at most {MAX_IMPORT_BODY_BYTES} inline "
                           "(larger files: {\"s3_uri\"})", field="body")  # fmt: skip
    media = (
        (event.headers.get("content-type") or event.headers.get("Content-Type") or "").split(";")[0].strip()
    )
    app_id = str(caller().app_id)
    if media in imports.MEDIA_FORMATS:
        fmt = imports.MEDIA_FORMATS[media]
        if not raw.strip():
            raise InvalidInput("the file is empty", field="body")

        def make() -> tuple[int, dict]:
            return 202, imports.start_inline(deps(), app_id, raw, fmt).model_dump(mode="json")

        digest = {"sha256": hashlib.sha256(raw).hexdigest(), "format": fmt}
        return idempotency.answer(router, "POST /v1/devices/import", digest, make)
    if media not in ("", "application/json"):
        raise UnsupportedMediaType(
            f"send application/x-ndjson, text/csv or application/json, not {media[:64]}", field="content-type"
        )
    # a 400 naming body.* fields: s3_uri outside the import bucket among them
    body = imports.parse_s3_import(deps().settings, json_object(event.raw_event))

    def from_s3() -> tuple[int, dict]:
        return 202, imports.start_from_s3(deps(), app_id, body).model_dump(mode="json")

    return idempotency.answer(router, "POST /v1/devices/import", body, from_s3)


@router.api("GET", "/v1/devices/import/<import_id>", keys=["server"], answers=[404],
            summary="An import's progress (done/total) and its first errors with line numbers")  # fmt: skip
def get_import(import_id: JobId) -> imports.ImportOut:
    return imports.get_import(deps(), str(caller().app_id), import_id)


@router.api("GET", "/v1/devices/index/<job_id>", keys=["server"], answers=[404],
            summary="A date attribute's index job (started when the attribute is declared): status, devices "
                    "read, devices indexed")  # fmt: skip
def get_index_job(job_id: JobId) -> imports.IndexJobOut:
    return imports.get_index_job(deps(), str(caller().app_id), job_id)


@router.api("POST", "/v1/devices/export", keys=["server"], status=202,
            summary="Export the app's devices as JSONL to S3: a job; answers the presigned URL of the file "
                    "(404 until the job completes) and the job's id")  # fmt: skip
def export_devices() -> Response[imports.ExportOut]:
    out = imports.start_export(deps(), str(caller().app_id))
    return Response(202, "application/json", out)


@router.api("GET", "/v1/devices/export/<export_id>", keys=["server"], answers=[404],
            summary="An export's status and device count, with a freshly presigned URL of the JSONL")  # fmt: skip
def get_export(export_id: JobId) -> imports.ExportOut:
    return imports.get_export(deps(), str(caller().app_id), export_id)
