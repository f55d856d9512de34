"""A campaign's stats per UTC hour, in the analytics table: one item per (campaign, hour), and for an
occurrence of a recurring or anniversary campaign one more per (campaign, run, hour) in the run's own
partition, so one run's series is one Query however many runs the campaign has had.

The item's counters are top-level attributes (`s:<stat>` overall, `v:<variant>:<stat>` per variant), so
one ADD creates or bumps them without a parent map that would first have to exist. The writers do not
write here themselves: `bucket_update` builds the Update that joins the ledger-guarded transaction which
adds the campaign's stats (one per send batch, audience task or event, never one per message), so the
series counts exactly what the stats count. Items are apart from the campaign's progress item, so they
do not depend on how that item is laid out or sharded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.expressions import add_update
from pushengine.dal.numbers import from_dynamo


def series_key(app_id: str, campaign_id: str, run: str | None = None) -> str:
    return f"{app_id}#{campaign_id}" if run is None else f"{app_id}#{campaign_id}#run#{run}"


class TimeseriesRepository:
    def __init__(self, table_name: str) -> None:
        self._name = table_name
        self._table = aws.table(table_name) if table_name else None

    def bucket_update(
        self,
        app_id: str,
        campaign_id: str,
        hour: str,
        stats: Mapping[str, int | float],
        variant_stats: Mapping[str, Mapping[str, int | float]],
        run: str | None = None,
    ) -> dict[str, Any] | None:
        """A TransactWriteItems Update adding these deltas to the hour's item (of the run's series, with
        `run`); None when nothing to add."""
        if not self._name:
            return None
        adds = [((f"s:{k}",), v) for k, v in stats.items()]
        for variant, deltas in variant_stats.items():
            adds += [((f"v:{variant}:{k}",), v) for k, v in deltas.items()]
        return add_update(self._name, {"series": series_key(app_id, campaign_id, run), "hour": hour}, adds)

    def hours(self, app_id: str, campaign_id: str, run: str | None = None) -> Iterator[dict[str, Any]]:
        """Every hour item of the campaign (or of one run), oldest first, as {"hour", "stats", "vstats"}."""
        if self._table is None:
            return
        key = series_key(app_id, campaign_id, run)
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("series").eq(key)}
        while True:
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                yield _parse(from_dynamo(item))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _parse(item: Mapping[str, Any]) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    vstats: dict[str, dict[str, Any]] = {}
    for name, value in item.items():
        if name.startswith("s:"):
            stats[name[2:]] = value
        elif name.startswith("v:"):
            variant, _, stat = name[2:].rpartition(":")
            vstats.setdefault(variant, {})[stat] = value
    return {"hour": item["hour"], "stats": stats, "vstats": vstats}
