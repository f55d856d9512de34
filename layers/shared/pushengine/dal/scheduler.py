"""EventBridge Scheduler: one one-time at() schedule per campaign wave, deleted after it fires."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pushengine.dal import aws


def schedule_name(campaign_id: str, wave_id: str) -> str:
    return f"c-{campaign_id}-{wave_id}"[:64]


class WaveScheduler:
    def __init__(self, group: str, role_arn: str, target_arn: str) -> None:
        self._group, self._role, self._target = group, role_arn, target_arn

    def create(self, name: str, at: datetime, payload: dict[str, Any]) -> None:
        when = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        try:
            aws.client("scheduler").create_schedule(
                Name=name,
                GroupName=self._group,
                ScheduleExpression=f"at({when})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._target,
                    "RoleArn": self._role,
                    "Input": json.dumps(payload),
                    "RetryPolicy": {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 3600},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConflictException":  # created by an earlier try
                raise

    def delete(self, name: str) -> bool:
        try:
            aws.client("scheduler").delete_schedule(Name=name, GroupName=self._group)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":  # fired already
                return False
            raise

    def exists(self, name: str) -> bool:
        """Whether a schedule is still waiting (an at() schedule is deleted once it fires)."""
        try:
            aws.client("scheduler").get_schedule(Name=name, GroupName=self._group)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise
