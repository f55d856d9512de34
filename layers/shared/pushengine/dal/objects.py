"""S3 objects of imports and exports (and an erasure's rewrite of them): the only module that speaks to S3."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from pushengine.dal import aws
from pushengine.errors import InvalidInput


def put(bucket: str, key: str, body: bytes, content_type: str) -> None:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def delete(bucket: str, key: str) -> None:
    aws.client("s3").delete_object(Bucket=bucket, Key=key)  # no error when it is already gone


def size(bucket: str, key: str) -> int:
    """The object's size; a 400 naming s3_uri when the stack cannot read it."""
    try:
        return int(aws.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as exc:
        raise InvalidInput(
            f"cannot read this object ({aws.error_code(exc) or 'error'})", field="body.s3_uri"
        ) from None


class Gone(LookupError):
    """The object is not there (NoSuchKey)."""


def read_range(bucket: str, key: str, start: int, length: int) -> bytes:
    try:
        got = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchKey":
            raise Gone(f"s3://{bucket}/{key}") from None
        raise
    return bytes(got["Body"].read())


class Upload:
    """A multipart upload carried across invocations by (upload id, parts)."""

    def __init__(
        self, bucket: str, key: str, upload_id: str | None = None, parts: list[dict[str, Any]] | None = None
    ) -> None:
        self.bucket, self.key = bucket, key
        self.upload_id = (
            upload_id
            or aws.client("s3").create_multipart_upload(
                Bucket=bucket, Key=key, ContentType="application/x-ndjson"
            )["UploadId"]
        )
        self.parts = list(parts or [])

    def add(self, body: bytes) -> None:
        number = len(self.parts) + 1
        etag = aws.client("s3").upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})

    def complete(self) -> None:
        if not self.parts:
            self.add(b"")
        aws.client("s3").complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )


def presigned(bucket: str, key: str, seconds: int) -> str:
    return str(
        aws.client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )
    )


def keys_after(bucket: str, prefix: str, start_after: str | None, limit: int = 100) -> tuple[list[str], bool]:
    """Up to `limit` keys under `prefix` after `start_after`, in order, and whether more follow."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
    if start_after:
        kwargs["StartAfter"] = start_after
    got = aws.client("s3").list_objects_v2(**kwargs)
    return [str(o["Key"]) for o in got.get("Contents", [])], bool(got.get("IsTruncated"))


def drop_lines(bucket: str, key: str, drop: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite a JSON-lines object (gzipped, as Firehose writes it, or plain) without the lines `drop`
    picks; the object is left untouched when it holds none. Returns the lines dropped."""
    try:
        got = aws.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchKey":  # expired or deleted meanwhile
            return 0
        raise
    raw = bytes(got["Body"].read())
    zipped = raw[:2] == b"\x1f\x8b"
    lines = (gzip.decompress(raw) if zipped else raw).splitlines(keepends=True)

    def picked(line: bytes) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return isinstance(record, dict) and drop(record)

    kept = [line for line in lines if not picked(line)]
    if len(kept) == len(lines):
        return 0
    body = b"".join(kept)
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(body) if zipped else body,
                                ContentType=got.get("ContentType") or "application/x-ndjson")  # fmt: skip
    return len(lines) - len(kept)
