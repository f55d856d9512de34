"""Deleting a saved segment: who still needs it decides (a fake repository through the same port)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pushengine import segments
from pushengine.errors import Conflict

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class FakeSegments:
    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.deleted: list[str] = []

    def get(self, app_id: str, segment_id: str) -> dict[str, Any] | None:
        return self.items.get(segment_id)

    def all(self, app_id: str) -> list[dict[str, Any]]:
        return list(self.items.values())

    def delete(self, app_id: str, segment_id: str, *, version: int) -> bool:
        if self.items[segment_id]["version"] != version:
            return False
        self.deleted.append(segment_id)
        return True


def segment(segment_id: str, filter_json: dict[str, Any], **campaigns: timedelta) -> dict[str, Any]:
    refs = {c: (NOW - age).isoformat() for c, age in campaigns.items()}
    return {"segment_id": segment_id, "filter": filter_json, "campaigns": refs, "version": 3}


LEAF = {"attr": "tags.plan", "op": "eq", "value": "pro"}
CASES = [
    ("no campaign", {}, {}, None),
    ("campaign completed", {"c1": timedelta(days=2)}, {"c1": "completed"}, None),
    ("campaign cancelled", {"c1": timedelta(days=2)}, {"c1": "cancelled"}, None),
    ("campaign scheduled", {"c1": timedelta(days=2)}, {"c1": "scheduled"}, "campaign c1 (scheduled)"),
    ("campaign sending", {"c1": timedelta(days=2)}, {"c1": "sending"}, "campaign c1 (sending)"),
    ("campaign paused", {"c1": timedelta(days=2)}, {"c1": "paused"}, "campaign c1 (paused)"),
    ("campaign being created", {"c1": timedelta(minutes=10)}, {}, "campaign c1 (being created)"),
    ("trace of a failed creation", {"c1": timedelta(hours=2)}, {}, None),
    ("one of several active", {"c1": timedelta(days=1), "c2": timedelta(days=1)},
     {"c1": "completed", "c2": "sending"}, "campaign c2"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "refs", "statuses", "conflict"), CASES, ids=[c[0] for c in CASES])
def test_delete_depends_on_the_campaigns_that_name_it(
    name: str, refs: dict[str, timedelta], statuses: dict[str, str], conflict: str | None
) -> None:
    repo = FakeSegments({"s1": segment("s1", LEAF, **refs)})
    if conflict is None:
        segments.delete_segment(repo, "app", "s1", statuses.get, now=NOW)  # type: ignore[arg-type]
        assert repo.deleted == ["s1"]
    else:
        with pytest.raises(Conflict, match=re.escape(conflict)):
            segments.delete_segment(repo, "app", "s1", statuses.get, now=NOW)  # type: ignore[arg-type]
        assert repo.deleted == []


def test_a_segment_another_segment_names_cannot_be_deleted() -> None:
    repo = FakeSegments({"s1": segment("s1", LEAF), "s2": segment("s2", {"not": {"segment": "s1"}})})
    with pytest.raises(Conflict, match="used by segment s2"):
        segments.delete_segment(repo, "app", "s1", {}.get, now=NOW)  # type: ignore[arg-type]
    segments.delete_segment(repo, "app", "s2", {}.get, now=NOW)  # type: ignore[arg-type]
    assert repo.deleted == ["s2"]
