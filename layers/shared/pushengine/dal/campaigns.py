"""Campaigns: a campaign is two items, read and written here together.

Its definition (name, spec, waves: written once, can be many KB) is in the campaigns table
(`dal.campaign_definitions`), its progress (status, counters, stats: small) in the delivery-state table
(`dal.campaign_progress`, which also holds what its delivery writes: ledgers, checkpoints, read plans).
`CampaignsRepository` is the `ports.CampaignStore` adapter over both: what spans the two tables (create,
read, list, edit, an experiment's decision) is written here, the rest is the progress repository's.

What the repository reads comes back as plain JSON values (numbers as int or float, sets as lists), a
definition's `spec` parsed once into `models.CampaignSpec`: no DynamoDB type leaves `dal/`. Writes take
plain values too.
"""

from __future__ import annotations

from typing import Any

from pushengine.dal import aws
from pushengine.dal.campaign_definitions import CampaignDefinitions, parsed
from pushengine.dal.campaign_progress import (
    LEDGER_DAYS,
    PROGRESS_FIELDS,
    CampaignProgress,
    batch_key,
    task_key,
    zero_stats,
)
from pushengine.dal.timeseries import TimeseriesRepository

# what callers import from here: the campaign's repository, its two items' keys, stats and definitions
__all__ = ["LEDGER_DAYS", "PROGRESS_FIELDS", "CampaignsRepository", "batch_key", "parsed", "task_key", "zero_stats"]


class CampaignsRepository(CampaignProgress):
    """A campaign's definition and progress (`definitions`: the campaigns table; the rest, inherited: the
    delivery-state table's campaign items)."""

    def __init__(
        self, campaigns_table: str, delivery_state_table: str, timeseries: TimeseriesRepository | None = None
    ) -> None:
        # no series given: hourly buckets are not kept (as a stack without an analytics table)
        super().__init__(delivery_state_table, timeseries or TimeseriesRepository(""))
        self.definitions = CampaignDefinitions(campaigns_table)
        self._campaigns_name = campaigns_table

    def create(self, item: dict[str, Any]) -> None:
        """Write the definition and its progress item together (fields as in PROGRESS_FIELDS)."""
        progress = {k: item[k] for k in PROGRESS_FIELDS if k in item}
        definition = {k: v for k, v in item.items() if k not in PROGRESS_FIELDS}
        progress.update(self.progress_key(item["app_id"], item["campaign_id"]))
        aws.transact([self.definitions.put_new(definition), *self.put_new(progress)])

    def get(
        self, app_id: str, campaign_id: str, *, consistent: bool = False, summed: bool = True
    ) -> dict[str, Any] | None:
        """The definition merged with its progress (progress is always read consistently). `summed=False`:
        the progress item alone (status, waves and tasks pending: one read), without the counter shards'
        stats, for the hot path that only asks whether to go on."""
        definition = self.definition(app_id, campaign_id, consistent=consistent)
        if not definition:
            return None
        progress = (self.progress(app_id, campaign_id) or {}) if summed else self.progress_item(app_id, campaign_id)
        if progress.get("revision", 0) != definition.get("revision", 0):  # edited since this container read it
            self.definitions.forget(app_id, campaign_id)
            definition = self.definition(app_id, campaign_id, consistent=True) or definition
        return {**definition, **progress}

    def definition(self, app_id: str, campaign_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        """A definition changes only by an edit (`replace_definition`), which bumps its `revision` on the
        progress item too: each container reads it once, and again when `get` finds a newer revision."""
        return self.definitions.get(app_id, campaign_id, consistent=consistent)

    def list(
        self, app_id: str, *, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        definitions, token = self.definitions.page(app_id, limit=limit, next_token=next_token)
        pks = [self.progress_key(app_id, d["campaign_id"])["pk"] for d in definitions]
        found = self.progress_of(pks)
        return [{**d, **found.get(pk, {})} for d, pk in zip(definitions, pks, strict=True)], token

    def replace_definition(self, definition: dict[str, Any]) -> None:
        """An edit, or waves a resume planned again: the definition is written, then its `revision` on the
        progress item, so every container's next `get` reads the new one."""
        self.definitions.replace(definition)
        self.set_revision(definition["app_id"], definition["campaign_id"], int(definition.get("revision") or 0))

    def settle_experiment(self, definition: dict[str, Any], waves: int) -> bool:
        """An experiment's decision, once: the definition (with the rest's waves and the decided record) and,
        on the progress item, its revision and `waves` more waves pending less the decision itself, in one
        transaction; False if the experiment was already decided."""
        app_id, campaign_id = definition["app_id"], definition["campaign_id"]
        revision = int(definition.get("revision") or 0)
        applied = aws.transact(
            [self.decide_experiment(app_id, campaign_id, waves, revision), self.definitions.put_existing(definition)],
            guard=0,
        )
        self.definitions.forget(app_id, campaign_id)
        return applied
