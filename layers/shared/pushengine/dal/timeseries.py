"""A campaign's stats per UTC hour, in the analytics table: an hour's counts spread over SHARDS write
shards (partition keys `<series>#s<n>`, by the writer's ledger key: see dal/counters.py), and for an
occurrence of a recurring or anniversary campaign the same again per (campaign, run) in the run's own
partitions, so one run's series is SHARDS Queries however many runs the campaign has had.

Every send batch and audience task adds to its hour, so one item per (campaign, hour) would take writes
that grow with the send rate: at 2 WRU a transactional write, one item's 1,000 WCU is 500 transactions
(~125,000 notifications of 250-device batches) a second. Spread over 16 shards, 250,000 notifications a
second are ~63 transactions (~125 WCU) a shard. Reads sum the shards (and the unsharded item that
deployments before the shards wrote), so the stats, the time series and the console read the same numbers.

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
from pushengine.dal.counters import SHARDS
from pushengine.dal.expressions import add_update
from pushengine.dal.numbers import from_dynamo


def series_key(app_id: str, campaign_id: str, run: str | None = None, shard: int | None = None) -> str:
    """The partition of a series' write shard `shard` (None: the unsharded one of earlier deployments)."""
    base = f"{app_id}#{campaign_id}" if run is None else f"{app_id}#{campaign_id}#run#{run}"
    return base if shard is None else f"{base}#s{shard % SHARDS}"


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
        *,
        shard: int,
    ) -> dict[str, Any] | None:
        """A TransactWriteItems Update adding these deltas to the hour's item on write shard `shard` (of the
        run's series, with `run`); None when nothing to add. A redelivery names the same shard and its
        ledger stops the transaction, so each delta is added once."""
        if not self._name:
            return None
        adds = [((f"s:{k}",), v) for k, v in stats.items()]
        for variant, deltas in variant_stats.items():
            adds += [((f"v:{variant}:{k}",), v) for k, v in deltas.items()]
        return add_update(self._name, {"series": series_key(app_id, campaign_id, run, shard), "hour": hour}, adds)

    def hours(self, app_id: str, campaign_id: str, run: str | None = None) -> Iterator[dict[str, Any]]:
        """Every hour of the campaign (or of one run), oldest first, as {"hour", "stats", "vstats"}: each
        hour's shards summed."""
        if self._table is None:
            return
        hours: dict[str, dict[str, Any]] = {}
        for shard in (None, *range(SHARDS)):
            for item in self._items(series_key(app_id, campaign_id, run, shard)):
                parsed = _parse(from_dynamo(item))
                hours[parsed["hour"]] = _merged(hours[parsed["hour"]], parsed) if parsed["hour"] in hours else parsed
        for hour in sorted(hours):
            yield hours[hour]

    def _items(self, key: str) -> Iterator[dict[str, Any]]:
        assert self._table is not None
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("series").eq(key)}
        while True:
            page = self._table.query(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _merged(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two shards' counts of one hour, added."""
    stats = dict(a["stats"])
    for k, v in b["stats"].items():
        stats[k] = stats.get(k, 0) + v
    vstats = {variant: dict(counts) for variant, counts in a["vstats"].items()}
    for variant, counts in b["vstats"].items():
        into = vstats.setdefault(variant, {})
        for k, v in counts.items():
            into[k] = into.get(k, 0) + v
    return {"hour": a["hour"], "stats": stats, "vstats": vstats}


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
