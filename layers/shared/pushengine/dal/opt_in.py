"""The app's soft-prompt counts (pushengine.opt_in) in the analytics table.

One report is one transaction: its ledger item in the delivery-state table (`optin#<app>#<prompt>#<outcome>`,
kept LEDGER_DAYS, so a retried report counts once) and an ADD to the hour's item of the app's opt-in series,
on the write shard of the ledger key, so a busy site's prompts spread over SHARDS partitions like a
campaign's series (dal/timeseries.py says why). Reads are that series' SHARDS Queries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pushengine import opt_in
from pushengine.dal import aws
from pushengine.dal.campaigns import LEDGER_DAYS
from pushengine.dal.counters import shard_of
from pushengine.dal.expressions import serialize
from pushengine.dal.timeseries import TimeseriesRepository


def ledger_key(app_id: str, prompt_id: str, outcome: str) -> str:
    return f"optin#{app_id}#{prompt_id}#{outcome}"


class OptInRepository:
    def __init__(self, state_table: str, analytics_table: str) -> None:
        self._state_name = state_table
        self.series = TimeseriesRepository(analytics_table)

    def record(self, app_id: str, report: opt_in.OptInReport, hour: str) -> bool:
        """Count one report in its hour; False when this prompt's outcome was already counted."""
        key = ledger_key(app_id, report.prompt_id, report.outcome)
        delta: dict[str, int | float] = {report.outcome: 1}
        update = self.series.bucket_update(
            app_id, opt_in.SERIES, hour, delta, {report.variant: delta} if report.variant else {},
            shard=shard_of(key),
        )  # fmt: skip
        if update is None:  # no analytics table (unit tests of other parts): nothing is kept
            return False
        ledger = {"pk": key, "done": True, "expires_at": int(time.time()) + LEDGER_DAYS * 86400}
        put = {"Put": {"TableName": self._state_name, "Item": serialize(ledger),
                       "ConditionExpression": "attribute_not_exists(done)"}}  # fmt: skip
        # Only the ledger's own condition (item 0) means "already counted"; conflicts are retried.
        return aws.transact([put, update], guard=0)

    def hours(self, app_id: str) -> Iterator[dict[str, Any]]:
        return self.series.hours(app_id, opt_in.SERIES)
