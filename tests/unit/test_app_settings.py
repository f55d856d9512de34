"""App defaults through `PUT /v1/apps/{app_id}/settings`'s model and logic, on a fake apps repository: the default
currency and the attribution window README promises are accepted, validated and read back where stats use them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pushengine import app_settings
from pushengine.analytics import app_defaults, stats_view
from pushengine.http import field_errors
from pushengine.models import AppSettingsIn

pytestmark = pytest.mark.unit


class FakeApps:
    """The two calls app_settings makes of `AppsRepository`."""

    def __init__(self, *app_ids: str) -> None:
        self.items: dict[str, dict[str, Any]] = {a: {"app_id": a} for a in app_ids}

    def get(self, app_id: str) -> dict[str, Any] | None:
        return self.items.get(app_id)

    def put_settings(self, app_id: str, values: dict[str, Any]) -> None:
        self.items[app_id]["settings"] = values


def test_settings_take_the_default_currency_and_the_attribution_window() -> None:
    apps = FakeApps("app_1")
    body = AppSettingsIn.model_validate({"currency": "EUR", "attribution_window_days": 14})
    out = app_settings.put_settings(apps, "app_1", body)  # type: ignore[arg-type]
    assert (out.currency, out.attribution_window_days) == ("EUR", 14)
    assert app_defaults(apps.get("app_1")) == ("EUR", 14)
    got = app_settings.get_settings(apps, "app_1")  # type: ignore[arg-type]
    assert (got.currency, got.attribution_window_days) == ("EUR", 14)
    # stats.revenue is the amount in the app's default currency, beside every currency's own
    stats = stats_view({"revenue_EUR": 12.5, "revenue_USD": 3}, app_defaults(apps.get("app_1"))[0])
    assert (stats["revenue"], stats["currency"]) == (12.5, "EUR")
    assert stats["revenue_by_currency"] == {"EUR": 12.5, "USD": 3}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [({"currency": "EUX"}, "currency", "ISO 4217"), ({"currency": "eur"}, "currency", "pattern"),
     ({"attribution_window_days": 91}, "attribution_window_days", "90"),
     ({"attribution_window_days": -1}, "attribution_window_days", "0")],
)  # fmt: skip
def test_a_wrong_currency_or_window_names_its_field(body: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        AppSettingsIn.model_validate(body)
    (error,) = field_errors(raised.value, "body")
    assert error["field"] == f"body.{field}" and reason in error["reason"], error
