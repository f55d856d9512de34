"""Schemathesis against the API's own OpenAPI document on the local stack: for every kind of key (and
none), generated valid and invalid requests never get a 5xx, and every answer is one the document lists,
with the body it documents. Derandomized, so CI sees the same cases every run."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.api_docs.app import ROUTERS
from tests.conftest import ADMIN_KEY, Api, AppKeys, Standins, console_user, new_app

pytestmark = pytest.mark.e2e

CASES = int(os.environ.get("FUZZ_CASES", "300"))  # per kind of key (FUZZ_CASES=1000 or more to dig deeper)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "fuzz")


@pytest.fixture(scope="module")
def bearers(stack: Any, fuzzed: AppKeys) -> dict[str, str | None]:
    """A bearer of each kind: keys, and console users' ID tokens."""
    analytics = fuzzed.server.post(f"/v1/apps/{fuzzed.app_id}/keys", {"kind": "analytics"}).json()["key"]
    return {"admin": ADMIN_KEY, "server": fuzzed.server.key, "client": fuzzed.client.key, "analytics": analytics,
            "marketer": console_user(stack, fuzzed.app_id, "marketer", "fuzz-marketer").key,
            "analyst": console_user(stack, fuzzed.app_id, "analyst", "fuzz-analyst").key, "none": None}  # fmt: skip


@pytest.fixture(scope="module")
def schema(stack: Any) -> Any:
    return schemathesis.openapi.from_url(f"{stack.api_url}/v1/openapi.json")


@pytest.mark.parametrize("who", ["admin", "server", "client", "analytics", "marketer", "analyst", "none"])
def test_generated_requests_get_documented_answers_and_never_a_5xx(
    stack: Any, schema: Any, fuzzed: AppKeys, bearers: dict[str, str | None], who: str
) -> None:
    key = bearers[who]
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    # The app's own id in its paths, so a server key gets past authorization into validation and the logic.
    strategy = schema.as_strategy(GenerationMode.POSITIVE, path_parameters={"app_id": fuzzed.app_id}) | (
        schema.as_strategy(GenerationMode.NEGATIVE)
    )
    if who == "admin":  # its few routes among 60-odd: half its cases are drawn from them, so some reach the logic
        own = [route for router in ROUTERS for route, access in router.access.items() if "admin" in access.kinds]
        strategy = schema.include(name=own).as_strategy(
            GenerationMode.POSITIVE, path_parameters={"app_id": fuzzed.app_id}
        ) | strategy
    session = requests.Session()
    answers: Counter[tuple[str, int]] = Counter()

    @settings(
        max_examples=CASES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found, without shrinking
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=stack.api_url, session=session, headers=auth)
        answers[(case.operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    run()
    assert sum(answers.values()) >= CASES
    assert not [a for a in answers if a[1] >= 500]
    if who == "none":  # only the console's sign-in (and its new password) is public: a wrong one is a 401 too
        assert {status for label, status in answers if not label.startswith("POST /v1/console/session")} == {401}
    else:  # the key's own routes get past authorization, and (but a client key) into the logic
        past = {status for _, status in answers if status not in (401, 403)}
        assert past and (who == "client" or any(200 <= status < 300 for status in past)), answers
    stack.drain(timeout=60)  # campaigns the fuzzer created leave no queued work behind
