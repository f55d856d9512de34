"""A journey's send steps as campaigns the send path already knows: one campaign per (send step, version),
so every journey send goes through the sender as any campaign's does (rendering with Liquid `event.*`,
caps, provider quotas, checkpoints, the collapse id) and its delivery stats land on that campaign.
The spec carries `journey` ({journey_id, step}), which the composer adds to every payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushengine import compose
from pushengine.content import Message
from pushengine.dal.apps import now_iso
from pushengine.dal.campaigns import zero_stats
from pushengine.journeys.model import JourneyIn, SendStep
from pushengine.ports import CampaignStore
from pushengine.targeting import DEFAULT_VARIANT, HOLDOUT


def campaign_id(journey_id: str, step_id: str, version: int) -> str:
    return f"{journey_id}--{step_id}--v{version}"


def parse_campaign_id(value: str) -> tuple[str, str] | None:
    """(journey_id, step) of a step campaign's id, None for any other campaign."""
    parts = value.split("--")
    return (parts[0], parts[1]) if len(parts) == 3 and parts[2].startswith("v") else None


def specs(
    journey_id: str, body: JourneyIn, resolve_template: Callable[[str, str], dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each send step's campaign spec (templates copied in now), checked as a campaign's message is."""
    out = {}
    for step_id, step in body.parsed_steps().items():
        if not isinstance(step, SendStep):
            continue
        field = f"body.steps.{step_id}"
        message = step.message or Message.model_validate(resolve_template(step.template_id or "", field))
        spec = {
            "name": f"{body.name} / {step_id}", "message": message.model_dump(mode="json", exclude_none=True),
            "quiet_hours": body.quiet_hours, "category": body.category, "ttl_seconds": body.ttl_seconds,
            "journey": {"journey_id": journey_id, "step": step_id},
            **({"frequency_cap": body.frequency_cap.model_dump()} if body.frequency_cap else {}),
            **({"max_per_second": body.max_per_second} if body.max_per_second else {}),
            **({"variants": [v.model_dump(mode="json", exclude_none=True) for v in step.variants]}
               if step.variants else {}),
        }  # fmt: skip
        compose.check(message, campaign_id(journey_id, step_id, 1), prefix=f"{field}.message")
        for i, v in enumerate(step.variants or []):
            compose.check(
                v.message, campaign_id(journey_id, step_id, 1), prefix=f"{field}.variants.{i}.message"
            )
        out[step_id] = spec
    return out


def create(
    store: CampaignStore, app_id: str, journey_id: str, version: int, step_specs: dict[str, dict[str, Any]]
) -> None:
    """Write the step campaigns of one version (active: the sender sends their batches whenever they come)."""
    for step_id, spec in step_specs.items():
        variants = [v["name"] for v in spec.get("variants") or []] or [DEFAULT_VARIANT]
        store.create({
            "app_id": app_id, "campaign_id": campaign_id(journey_id, step_id, version), "name": spec["name"],
            "status": "active", "created_at": now_iso(), "spec": {**spec, "schedule": {"type": "now"}},
            "waves": [], "skipped_zones": [], "waves_pending": 0, "tasks_pending": 0, "batches_pending": 0,
            "stats": zero_stats(), "vstats": {name: zero_stats() for name in [*variants, HOLDOUT]},
            "paced": {}, "errors": {},
        })  # fmt: skip
