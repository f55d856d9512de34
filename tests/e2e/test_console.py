"""The marketers' console in headless Chromium, served by the local stack at /console: a console user signs in
through the Cognito pool (never an API key); the campaigns list and a campaign page show the API's
numbers, the chart renders (screenshot kept under reports/), the create form's audience count follows the
filter, device lookup, an admin creates a campaign; an analyst sees results, is refused a creation and
sees why; no console errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import CONSOLE_PASSWORD, Api, AppKeys, Standins, console_user, new_app
from tests.e2e.test_web_sdk import CHROMIUM_ARGS, REPORTS, chromium

pytestmark = pytest.mark.e2e

PRO = {"attr": "tags.plan", "op": "eq", "value": "pro"}


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> tuple[AppKeys, str]:
    """An app whose campaign (two variants, a 20% holdout) has sent, with events posted against it."""
    app = new_app(Api(stack.api_url), standins, "console")
    for i in range(60):
        body = {"platform": "android", "token": standins.fcm.new_token("demo-project"),
                "tags": {"plan": "pro" if i % 3 == 0 else "free"}}  # fmt: skip
        assert app.client.put(f"/v1/devices/con-{i:02d}", body).status_code == 201
    r = app.server.post("/v1/campaigns", {
        "name": "Winter sale", "message": {"title": "Sale", "body": "b"}, "holdout_percent": 20,
        "variants": [{"name": "short", "message": {"title": "Sale!", "body": "b"}},
                     {"name": "long", "message": {"title": "Our winter sale starts now", "body": "b"}}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=120)
    now = datetime.now(UTC).isoformat()
    events = [{"device_id": f"con-{i:02d}", "name": name, "campaign_id": campaign_id, "timestamp": now,
               **({"value": 12.5, "currency": "EUR"} if name == "purchase" else {})}
              for i in range(0, 60, 2) for name in ("opened", "purchase")]  # fmt: skip
    assert app.server.post("/v1/events/batch", {"events": events}).status_code == 202
    return app, campaign_id


def sign_in(page: Any, stack: Any, user: str, password: str = CONSOLE_PASSWORD) -> None:
    page.goto(f"{stack.api_url}/console#/campaigns")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in-form button")


@pytest.fixture(scope="module")
def page(stack: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        context = launched.new_context(viewport={"width": 1100, "height": 1400})
        page = context.new_page()
        page.problems = []  # console errors and uncaught exceptions, on any page
        page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        yield page
        launched.close()


def test_console(stack: Any, shop: tuple[AppKeys, str], page: Any) -> None:
    from playwright.sync_api import expect

    app, campaign_id = shop
    api = app.server
    console_user(stack, app.app_id, "admin", "console-admin")
    sign_in(page, stack, "console-admin")

    # The list shows the campaign with the API's numbers.
    row = page.wait_for_selector(f"tr[data-campaign='{campaign_id}']", timeout=15_000)
    campaign = api.get(f"/v1/campaigns/{campaign_id}").json()
    stats = campaign["stats"]
    for stat in ("targeted", "sent", "opened", "converted"):
        assert row.query_selector(f"[data-stat={stat}]").inner_text() == str(stats[stat]), stat
    assert row.query_selector("[data-stat=revenue]").inner_text() == "€375.00"
    assert stats["revenue_by_currency"] == {"EUR": 375}
    assert page.evaluate("sessionStorage.length") == 1 and page.evaluate("localStorage.length") == 0
    held = page.evaluate("Object.values(sessionStorage).join()")
    assert app.server.key not in held and app.client.key not in held and '"role":"admin"' in held
    expect(page.locator("#who")).to_have_text("console-admin · admin")

    # The campaign page: funnel, waves, the chart, variants with lift.
    page.locator(f"tr[data-campaign='{campaign_id}'] a").click()
    page.wait_for_selector("#chart svg polyline[data-series=sent]", state="attached", timeout=15_000)
    for stat in ("targeted", "sent", "delivered", "opened", "clicked", "converted"):
        assert page.inner_text(f"#funnel [data-stat={stat}]") == str(stats[stat]), stat
    assert page.locator("svg.timeline circle.wave.fired").count() == len(campaign["waves"]) == 1
    series = api.get(f"/v1/campaigns/{campaign_id}/timeseries").json()
    assert page.get_attribute("#chart polyline[data-series=converted]", "data-points") == str(
        len(series["buckets"])
    )
    for name, block in campaign["lift"].items():
        cells = page.locator(f"#variants tr[data-variant={name}]")
        assert cells.locator("[data-lift=rate]").inner_text() == f"{block['rate'] * 100:.2f}%"
        assert cells.locator("[data-lift=p_value]").inner_text() == f"{block['p_value']:.4f}"
        verdict = "too small to conclude" if not block["conclusive"] else None
        if verdict:
            assert cells.locator("[data-lift=verdict]").inner_text() == verdict
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / "console-campaign.png"), full_page=True)

    # The create form counts the audience as the filter is typed.
    page.click("a[href='#/new']")
    count = page.locator("#audience-count")
    everyone = api.post("/v1/audience/count", {"audience": None}).json()["count"]
    expect(count).to_have_text(str(everyone))  # the page's CSP forbids eval, so no wait_for_function
    page.fill("#audience", json.dumps(PRO))
    pro = api.post("/v1/audience/count", {"audience": PRO}).json()["count"]
    assert pro == 20 != everyone
    expect(count).to_have_text("20")

    # Device lookup.
    page.click("a[href='#/device']")
    page.fill("#device-id", "con-03")
    page.click("form button")
    page.wait_for_selector("#device td[data-field=device_id]")
    assert page.inner_text("#device td[data-field=device_id]") == "con-03"
    assert "token" not in page.inner_text("#device").split()  # the push address is not shown

    # An admin creates a campaign from the form.
    page.click("a[href='#/new']")
    page.fill("input[name=name]", "Made in the console")
    page.fill("input[name=title]", "Hello")
    page.fill("textarea[name=body]", "From the console")
    page.fill("input[name=at]", "2099-01-01T09:00")
    page.click("#create button[type=submit]")
    page.wait_for_selector("#funnel", timeout=15_000)
    made = [c for c in api.get("/v1/campaigns?limit=100").json()["campaigns"] if c["name"] == "Made in the console"]
    assert len(made) == 1 and made[0]["status"] == "scheduled", made
    api.post(f"/v1/campaigns/{made[0]['campaign_id']}/cancel")

    assert page.problems == []


def test_an_analyst_sees_results_but_is_refused_a_creation_and_sees_why(
    stack: Any, shop: tuple[AppKeys, str], page: Any
) -> None:
    from playwright.sync_api import expect

    app, campaign_id = shop
    console_user(stack, app.app_id, "analyst", "ana")
    before = app.server.get("/v1/campaigns?limit=100").json()["campaigns"]
    sign_in(page, stack, "ana")
    row = page.wait_for_selector(f"tr[data-campaign='{campaign_id}']", timeout=15_000)
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert row.query_selector("[data-stat=sent]").inner_text() == str(stats["sent"])
    # What an analyst may not do is not offered ...
    assert page.locator("a[href='#/new']").is_hidden() and page.locator("a[href='#/device']").is_hidden()
    # ... and when asked anyway, the API refuses and the console says why.
    page.goto(f"{stack.api_url}/console#/new")
    page.fill("input[name=name]", "Not allowed")
    page.fill("input[name=title]", "t")
    page.fill("textarea[name=body]", "b")
    page.click("#create button[type=submit]")
    expect(page.locator("#create .error")).to_contain_text("the analyst role may not call this route")
    assert app.server.get("/v1/campaigns?limit=100").json()["campaigns"] == before

    # A wrong password is refused on the sign-in form, with the pool's reason.
    sign_in(page, stack, "ana", "not-the-password")
    expect(page.locator("#sign-in-error")).to_have_text("wrong user name or password")
    # the refused requests (403, 401) are Chromium's only complaints: no script error
    assert page.problems and all(p.startswith("Failed to load resource") for p in page.problems), page.problems
