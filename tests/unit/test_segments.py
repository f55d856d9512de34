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


# ---------- reading a segment, and its live size ----------
class SavedSegments(FakeSegments):
    """The reads `get_segment` and `audience_count` make, over one saved segment."""

    def __init__(self, filter_json: dict[str, Any]) -> None:
        super().__init__({"seg_1": {**segment("seg_1", filter_json), "name": "busy",
                                    "created_at": NOW.isoformat(), "updated_at": NOW.isoformat()}})  # fmt: skip


BUSY = {"attr": "tags.visits", "op": "gt", "value": 4}


def _app(per_zone: int, zones: tuple[str, ...] = ("Europe/Paris", "Asia/Tokyo", "America/Lima")) -> Any:
    from tests.fakes import FakeDevices

    devices = FakeDevices()
    for z, zone in enumerate(zones):
        for i in range(per_zone):
            devices.register("app_1", f"d-{z}-{i:05d}", platform="android", timezone=zone,
                             tags={"visits": i % 10}, opted_in=i % 50 != 0)  # fmt: skip
    return devices


@pytest.fixture(autouse=True)
def _no_cached_counts() -> Any:
    from pushengine import audience_size

    audience_size._CACHE.clear()
    yield
    audience_size._CACHE.clear()


def test_reading_a_segment_counts_nothing() -> None:
    devices = _app(per_zone=200)
    got = segments.get_segment(SavedSegments(BUSY), "app_1", "seg_1")  # type: ignore[arg-type]
    assert (got.name, got.audience, got.filter) == ("busy", BUSY, BUSY)
    assert devices.pages_read == 0


def test_a_segments_size_is_exact_for_a_small_app() -> None:
    devices = _app(per_zone=200)
    size = segments.segment_size(SavedSegments(BUSY), devices, "app_1", "seg_1")  # type: ignore[arg-type]
    expected = sum(1 for i in range(200) if i % 10 > 4 and i % 50 != 0) * 3
    assert (size.count, size.scanned, size.estimated, size.devices) == (expected, 600, False, 600)


def test_a_big_apps_count_reads_a_bounded_sample_and_says_it_is_an_estimate() -> None:
    from pushengine import audience_size

    devices = _app(per_zone=4000)  # 12,000 devices; a count reads 1,500 of them
    size = audience_size.count(devices, "app_1", BUSY, max_reads=1500, now=NOW)
    true = sum(1 for i in range(4000) if i % 10 > 4 and i % 50 != 0) * 3
    assert size.estimated and size.devices == 12_000 and 1500 <= size.scanned <= 1503
    assert abs(size.count - true) <= 0.1 * true, (size.count, true)
    assert devices.pages_read <= 6  # two pages a zone, never a partition read to its end


def test_counts_are_cached_a_minute_per_filter() -> None:
    from pushengine import audience_size

    devices, now = _app(per_zone=100), [1000.0]
    first = audience_size.count(devices, "app_1", BUSY, clock=lambda: now[0])
    reads = devices.pages_read
    now[0] += 30
    assert audience_size.count(devices, "app_1", BUSY, clock=lambda: now[0]) == first
    assert devices.pages_read == reads  # the console asking again reads nothing
    audience_size.count(devices, "app_1", None, clock=lambda: now[0])
    assert devices.pages_read > reads  # another filter is its own count
    reads = devices.pages_read
    now[0] += 31
    audience_size.count(devices, "app_1", BUSY, clock=lambda: now[0])
    assert devices.pages_read > reads  # a minute on, counted again


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "a", "audience": LEAF}, None), ({"name": "a", "filter": LEAF}, None),
     ({"name": "a"}, "body.audience"), ({"name": "a", "audience": LEAF, "filter": LEAF}, "body.audience")],
)  # fmt: skip
def test_segments_take_audience_like_campaigns_and_still_take_filter(body: dict, field: str | None) -> None:
    from pydantic import ValidationError

    from pushengine.http import field_errors
    from pushengine.models import SegmentIn

    if field is None:
        assert SegmentIn.model_validate(body).definition == LEAF
        return
    with pytest.raises(ValidationError) as raised:
        SegmentIn.model_validate(body)
    assert field_errors(raised.value, "body")[0]["field"] == field
