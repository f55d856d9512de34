"""`make invoke`: every sample event in events/ runs through its function on the local stack and succeeds."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from local.invoke import World, function_for, invoke
from tests.conftest import ADMIN_KEY, ROOT, Api, Standins

pytestmark = pytest.mark.e2e


@pytest.mark.clock
def test_every_sample_event_succeeds_through_make_invokes_code_path(stack: Any, standins: Standins) -> None:
    world = World.make(stack, ADMIN_KEY, standins.apns, standins.fcm)
    files = sorted((ROOT / "events").glob("*.json"))
    assert len(files) >= 15
    for path in files:
        result, failed = invoke(stack, world, function_for(path), path)
        assert not failed, (path.name, result)
        if path.name == "campaigns_create.json":  # a sample campaign with something to send, on any day
            created = json.loads(result["body"])
            assert created["status"] == "scheduled" and created["waves"], created
            assert "America/New_York" in {z for w in created["waves"] for z in w["time_zones"]}, created
    # campaigns_pause.json paused the sample campaign: resume it, so its held work finishes
    resumed = Api(stack.api_url, world.server_key).post(f"/v1/campaigns/{world.campaign_id}/resume")
    assert resumed.status_code == 200, resumed.text
    stack.drain(timeout=120)  # leave no queued work for the next test


def test_make_invoke_prints_the_result_and_exits_0() -> None:
    run = subprocess.run(["make", "-s", "invoke", "FUNCTION=CampaignsFunction", "EVENT=events/campaigns_send_message.json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert '"statusCode": 202' in run.stdout and "message_id" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "local.invoke", "events/campaigns_list.json", "SenderFunction"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 1  # an HTTP event is no SQS batch: the sender fails, and invoke says so
