from datetime import UTC, datetime

import pytest

from pushengine.targeting import HOLDOUT, Targeting, assign, quiet_until
from tests.fakes import spec_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("quiet", "zone", "now", "expected"),
    [
        # 23:30 in New York (EST, -5) is inside 22:00-08:00: released at 08:00 local = 13:00Z next day.
        ({"start": "22:00", "end": "08:00"}, "America/New_York", datetime(2026, 11, 27, 4, 30, tzinfo=UTC),
         datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
        # 07:00 local (after midnight) is still inside; released the same local morning.
        ({"start": "22:00", "end": "08:00"}, "America/New_York", datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
         datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
        # 09:00 local is outside.
        ({"start": "22:00", "end": "08:00"}, "America/New_York", datetime(2026, 11, 27, 14, 0, tzinfo=UTC), None),
        # A window that does not cross midnight: 13:00-15:00 Kathmandu (+5:45); 13:30 local is inside.
        ({"start": "13:00", "end": "15:00"}, "Asia/Kathmandu", datetime(2026, 11, 27, 7, 45, tzinfo=UTC),
         datetime(2026, 11, 27, 9, 15, tzinfo=UTC)),
        (None, "UTC", datetime(2026, 11, 27, 3, 0, tzinfo=UTC), None),
    ],
)  # fmt: skip
def test_quiet_until(quiet: dict | None, zone: str, now: datetime, expected: datetime | None) -> None:
    assert quiet_until(quiet, zone, now) == expected


def test_assignment_is_stable_and_follows_weights_and_holdout() -> None:
    spec = spec_of(holdout_percent=10, variants=[{"name": "a", "weight": 3}, {"name": "b", "weight": 1}])
    picks = [assign(spec, "cmp_1", f"dev-{i}") for i in range(20000)]
    assert picks == [assign(spec, "cmp_1", f"dev-{i}") for i in range(20000)]
    share = {name: picks.count(name) / len(picks) for name in ("a", "b", HOLDOUT)}
    assert share[HOLDOUT] == pytest.approx(0.10, abs=0.01)
    assert share["a"] == pytest.approx(0.90 * 0.75, abs=0.015)
    assert share["b"] == pytest.approx(0.90 * 0.25, abs=0.015)


def test_decisions() -> None:
    now = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)  # 23:30 in New York
    device = {"device_id": "d1", "timezone": "America/New_York", "opted_in": True,
              "quiet_hours": {"start": "22:00", "end": "08:00"}, "platform": "web"}  # fmt: skip
    assert Targeting("c", spec_of()).decide(device, now).outcome == "defer"  # the default policy
    assert Targeting("c", spec_of(quiet_hours="skip")).decide(device, now).outcome == "suppressed_quiet_hours"
    assert Targeting("c", spec_of(quiet_hours="ignore")).decide(device, now).outcome == "send"
    transactional = spec_of(quiet_hours="skip", category="transactional")
    assert Targeting("c", transactional).decide(device, now).outcome == "send"
    assert Targeting("c", spec_of()).decide({**device, "opted_in": False}, now).outcome == "suppressed_opted_out"
    assert Targeting("c", spec_of(holdout_percent=50)).decide(device, now).outcome in {
        "defer",
        "suppressed_holdout",
    }
    audience = {"attr": "platform", "op": "eq", "value": "ios"}
    assert not Targeting("c", spec_of(audience=audience)).selects(device, now)
