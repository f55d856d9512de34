"""Fixtures of the integration tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from samlocal import create_tables, load_template
from tests.conftest import forget_process_caches

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The template's tables in an in-process moto, by logical id; the engine's clients point at it."""
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    forget_process_caches()
    with mock_aws():
        yield create_tables(load_template(TEMPLATE), boto3.client("dynamodb", region_name="us-east-1"))
    forget_process_caches()
