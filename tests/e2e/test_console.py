"""The marketers' console in headless Chromium, served by the local stack at /console, driven as a person
would: by visible labels and roles, signed in as Cognito console users (never an API key). One test per
flow: a local-time campaign built with the audience builder, previewed, created, paused, resumed and
delivered on the driven clock with its results on its page; a campaign's results; segments and templates;
lookup; a journey built in the graph editor; admin; console users and the first sign-in's new password;
an analyst refused; a keyboard-only creation; and
every view axe-core clean at 390, 800 and 1100 px with nothing scrolling sideways and no dropdown cutting
its chosen text (screenshots in reports/console/)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import (
    CONSOLE_PASSWORD,
    ROOT,
    Api,
    AppKeys,
    Standins,
    console_user,
    import_devices,
    new_app,
)
from tests.e2e.test_web_sdk import CHROMIUM_ARGS, REPORTS, chromium, drain

pytestmark = pytest.mark.e2e

SHOTS = REPORTS / "console"
AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# 25 hours apart: midnight of Kiritimati's current date has always passed there and is always ahead in Pago Pago
ZONES = {"kiritimati": "Pacific/Kiritimati", "pagopago": "Pacific/Pago_Pago"}
PER_ZONE = 4
NAMES = ("Ana", "Ben", "Chen", "Dana")


class Shop:
    """The app the console runs: a sent campaign with variants and a holdout (and events against it), and
    devices in three zones for the local-time flow, two of them one user's."""

    def __init__(self, app: AppKeys, campaign_id: str, tokens: dict[str, str]) -> None:
        self.app, self.campaign_id, self.tokens = app, campaign_id, tokens


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> Shop:
    app = new_app(Api(stack.api_url), standins, "console")
    devices: dict[str, dict[str, Any]] = {}
    tokens: dict[str, str] = {}  # every device's by its push token
    for i in range(60):
        devices[f"con-{i:02d}"] = {"platform": "android", "token": standins.fcm.new_token("demo-project"),
                                   "timezone": ZONES["pagopago"],
                                   "tags": {"plan": "pro" if i % 3 == 0 else "free"}}  # fmt: skip
        tokens[devices[f"con-{i:02d}"]["token"]] = f"con-{i:02d}"
    for city, zone in ZONES.items():
        for i in range(PER_ZONE):
            token = standins.fcm.new_token("demo-project")
            device_id = f"loc-{city}-{i}"
            devices[device_id] = {"platform": "android", "token": token, "timezone": zone, "locale": "en",
                                  "tags": {"plan": "vip", "city": city}, "attributes": {"first_name": NAMES[i]},
                                  **({"user_id": "user-ana"} if i == 0 else {})}  # fmt: skip
            tokens[token] = device_id
    import_devices(stack, app, devices)
    r = app.server.post("/v1/campaigns", {
        "name": "Winter sale", "message": {"title": "Sale", "body": "b"}, "holdout_percent": 20,
        "audience": {"attr": "tags.plan", "op": "in", "value": ["pro", "free"]},
        "variants": [{"name": "short", "message": {"title": "Sale!", "body": "b"}},
                     {"name": "long", "message": {"title": "Our winter sale starts now", "body": "b"}}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=120)
    events = [{"device_id": f"con-{i:02d}", "name": name, "campaign_id": campaign_id,
               **({"value": 12.5, "currency": "EUR"} if name == "purchase" else {})}
              for i in range(0, 60, 2) for name in ("opened", "purchase")]  # fmt: skip
    assert app.server.post("/v1/events/batch", {"events": events}).status_code == 202
    for role in ("admin", "marketer", "analyst"):
        console_user(stack, app.app_id, role, f"console-{role}")
    return Shop(app, campaign_id, tokens)


@pytest.fixture(scope="module")
def browser(stack: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Any, width: int = 1100, **options: Any) -> Any:
    page = browser.new_context(viewport={"width": width, "height": 900}, **options).new_page()
    page.set_default_timeout(15_000)
    page.problems = []  # console errors and uncaught exceptions
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    return page


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = new_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def restore_clock(stack: Any) -> Iterator[None]:
    yield
    stack.clock.set(datetime.now(UTC))


def sign_in(
    page: Any, stack: Any, role: str, password: str = CONSOLE_PASSWORD, user: str | None = None
) -> None:
    """Sign in as `user` (by default this module's user of `role`, console-<role>)."""
    from playwright.sync_api import expect

    user = user or f"console-{role}"
    page.goto(f"{stack.api_url}/console#/campaigns")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if password == CONSOLE_PASSWORD:
        expect(page.locator("#who")).to_have_text(f"{user} · {role}")


def nav(page: Any, name: str) -> None:
    from playwright.sync_api import expect

    link = page.get_by_role("navigation").get_by_role("link", name=name, exact=True)
    link.click()
    expect(link).to_have_attribute("aria-current", "page")
    page.wait_for_load_state("networkidle")


def count_of(app: AppKeys, audience: Any) -> int:
    r = app.server.post("/v1/audience/count", {"audience": audience})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


def off_loop(work: Callable[[], Any]) -> Any:
    """Stack work beyond a drain (see test_web_sdk.drain) off the thread Playwright's event loop runs on."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def drive(stack: Any, waves: list[dict[str, Any]]) -> None:
    """The driven clock steps from one wave's instant to the next, firing each."""

    def fire() -> None:
        for wave in sorted(waves, key=lambda w: w["send_at"]):
            at = datetime.fromisoformat(wave["send_at"].replace("Z", "+00:00"))
            stack.clock.set(at + timedelta(seconds=1))
            stack.fire_due_schedules()
            stack.drain(timeout=120)

    off_loop(fire)


def test_a_local_time_campaign_built_previewed_created_paused_resumed_and_delivered(
    stack: Any, standins: Standins, shop: Shop, page: Any, restore_clock: None
) -> None:
    from playwright.sync_api import expect

    app = shop.app
    # The campaign API plans on real time: midnight of Kiritimati's date has passed there and not in Pago Pago.
    day = datetime.now(ZoneInfo(ZONES["kiritimati"])).date()
    sign_in(page, stack, "marketer")
    nav(page, "New campaign")
    page.get_by_label("Campaign name", exact=True).fill("Morning hello")

    # The composer: Liquid through the field picker, a body too long for iOS and the web.
    title = page.get_by_label("Title", exact=True)
    title.fill("Hello ")
    page.get_by_label("Field to insert").select_option("attributes.first_name")
    page.get_by_label("Default if empty").fill("friend")
    title.click()
    title.press("End")
    page.get_by_role("button", name="Insert field").click()
    expect(title).to_have_value('Hello {{ attributes.first_name | default: "friend" }}')
    body = "Our mornings are better with you. " * 6  # 204 characters
    page.get_by_label("Body", exact=True).fill(body.strip())
    ios = page.locator("figure[data-platform=ios]")
    expect(ios.locator("[data-preview=title]")).to_have_text("Hello friend")  # the sample device has no name
    expect(ios.locator(".limits .warn")).to_contain_text("Body: 203 characters; iOS shows about 178")
    expect(page.locator("figure[data-platform=android] .limits .warn")).to_have_count(0)
    expect(page.locator("figure[data-platform=web] .limits .warn")).to_contain_text("Web shows about 120")

    # The preview for a chosen device: its own first name.
    page.get_by_label("Preview for device").fill("loc-pagopago-1")
    page.get_by_role("button", name="Show preview").click()
    android = page.locator("figure[data-platform=android]")
    expect(android.locator("figcaption")).to_have_text("Android (this device)")
    expect(android.locator("[data-preview=title]")).to_have_text("Hello Ben")
    page.screenshot(path=str(shot("composer-preview")), full_page=True)

    # The audience builder: plan is vip and the platform is Android; the live count follows it.
    everyone = count_of(app, None)
    expect(page.locator("#audience-count")).to_have_text(str(everyone))
    page.get_by_role("button", name="Add condition").click()
    first = page.locator(".condition").nth(0)
    first.get_by_label("Condition on").select_option("tag")
    first.get_by_label("Tag name").fill("plan")
    first.get_by_label("Comparison").select_option("eq")
    first.get_by_label("Value", exact=True).fill("vip")
    vip = {"attr": "tags.plan", "op": "eq", "value": "vip"}
    assert count_of(app, vip) == len(ZONES) * PER_ZONE != everyone
    expect(page.locator("#audience-count")).to_have_text(str(len(ZONES) * PER_ZONE))
    page.get_by_role("button", name="Add condition").click()
    second = page.locator(".condition").nth(1)
    second.get_by_label("Condition on").select_option("platform")
    second.get_by_label("Platform").select_option("android")
    both = {"all": [vip, {"attr": "platform", "op": "eq", "value": "android"}]}
    expect(page.locator("#audience-count")).to_have_text(str(count_of(app, both)))

    # The schedule: midnight local on that date, zones already past skipped; quiet hours ignored.
    page.get_by_label("At a local time in each device's zone").check()
    page.get_by_label("Local date", exact=True).fill(day.isoformat())
    page.get_by_label("Local time", exact=True).fill("00:00")
    page.get_by_label("Where that time has passed", exact=True).select_option("skip")
    page.get_by_label("During quiet hours", exact=True).select_option("ignore")
    page.get_by_label("Most sends per second", exact=True).fill("50")
    page.get_by_role("button", name="Create campaign").click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Morning hello")
    campaign_id = page.url.rsplit("/", 1)[1]
    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert campaign["schedule"] == {"type": "local_time", "date": day.isoformat(), "time": "00:00",
                                    "if_passed": "skip"}  # fmt: skip
    skipped = {z["time_zone"]: z["devices"] for z in campaign["skipped_time_zones"]}
    assert skipped == {ZONES["kiritimati"]: PER_ZONE}, skipped
    zones = page.locator("#skipped-zones")
    expect(zones.get_by_role("row", name=f"{ZONES['kiritimati']} {PER_ZONE}")).to_be_visible()
    expect(page.locator("#status")).to_have_text("scheduled")

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#status")).to_have_text("paused")
    assert app.server.get(f"/v1/campaigns/{campaign_id}").json()["status"] == "paused"
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#status")).to_have_text("scheduled")

    standins.fcm.reset()
    drive(stack, campaign["waves"])
    reached = {shop.tokens[m.token]: m.message["notification"]["title"] for m in standins.fcm.received
               if m.message["data"].get("campaign_id") == campaign_id}  # fmt: skip
    assert reached == {f"loc-pagopago-{i}": f"Hello {NAMES[i]}" for i in range(PER_ZONE)}, reached
    events = [{"device_id": "loc-pagopago-0", "name": "opened", "campaign_id": campaign_id},
              {"device_id": "loc-pagopago-1", "name": "opened", "campaign_id": campaign_id},
              {"device_id": "loc-pagopago-1", "name": "purchase", "campaign_id": campaign_id, "value": 30,
               "currency": "USD"}]  # fmt: skip
    assert app.server.post("/v1/events/batch", {"events": events}).status_code == 202
    drain(stack)

    page.reload()
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["targeted"], stats["sent"], stats["opened"], stats["converted"]) == (
        PER_ZONE,
        PER_ZONE,
        2,
        1,
    )
    for stat in ("targeted", "sent", "opened", "converted"):
        expect(page.locator(f"#funnel [data-stat={stat}]")).to_have_text(str(stats[stat]))
    expect(page.locator("#revenue")).to_have_text("$30.00")
    page.screenshot(path=str(shot("campaign-delivered")), full_page=True)
    assert page.problems == []


def test_a_campaign_s_results_page_and_the_list_s_filter_and_search(
    stack: Any, shop: Shop, page: Any
) -> None:
    from playwright.sync_api import expect

    app, campaign_id = shop.app, shop.campaign_id
    sign_in(page, stack, "analyst")
    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    stats = campaign["stats"]
    row = page.locator(f"tr[data-campaign='{campaign_id}']")
    for stat in ("targeted", "sent", "opened", "converted"):
        expect(row.locator(f"[data-stat={stat}]")).to_have_text(str(stats[stat]))
    expect(row.locator("[data-stat=revenue]")).to_have_text("€375.00")
    assert stats["revenue_by_currency"] == {"EUR": 375}
    held = page.evaluate("Object.values(sessionStorage).join()")
    assert (
        app.server.key not in held
        and app.client.key not in held
        and page.evaluate("localStorage.length") == 0
    )

    page.get_by_label("Search", exact=True).fill("winter")
    expect(page.locator("#campaigns tbody tr")).to_have_count(1)
    page.get_by_label("Status", exact=True).select_option("cancelled")
    expect(page.get_by_text("No campaign matches.")).to_be_visible()
    page.get_by_label("Status", exact=True).select_option(campaign["status"])
    page.get_by_role("link", name="Winter sale").click()

    page.wait_for_selector("#chart svg polyline[data-series=sent]", state="attached")
    for stat in ("targeted", "sent", "delivered", "opened", "clicked", "converted"):
        expect(page.locator(f"#funnel [data-stat={stat}]")).to_have_text(str(stats[stat]))
    expect(page.locator("#revenue")).to_have_text("€375.00")
    series = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries?granularity=day").json()
    page.get_by_label("Granularity").select_option("day")
    expect(page.locator("#chart polyline[data-series=converted]")).to_have_attribute(
        "data-points", str(len(series["buckets"]))
    )
    for name, block in campaign["lift"].items():
        cells = page.locator(f"#variants tr[data-variant={name}]")
        expect(cells.locator("[data-lift=rate]")).to_have_text(f"{block['rate'] * 100:.2f}%")
        expect(cells.locator("[data-lift=p_value]")).to_have_text(f"{block['p_value']:.4f}")
    expect(page.locator("#suppressed")).to_contain_text("holdout")
    expect(page.locator("#errors")).to_have_text("No send failed for good.")
    # an analyst is offered no lifecycle action
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    assert page.problems == []


def test_an_experiment_built_in_the_form_shows_its_decision_and_comparisons_and_the_opt_in_rates(
    stack: Any, standins: Standins, shop: Shop, page: Any, restore_clock: None
) -> None:
    from playwright.sync_api import expect

    app = shop.app
    sign_in(page, stack, "marketer")
    nav(page, "New campaign")
    page.get_by_label("Campaign name", exact=True).fill("Which title")
    page.get_by_label("Title", exact=True).first.fill("Base")
    page.get_by_label("Body", exact=True).first.fill("b")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Tag name").fill("plan")
    page.get_by_label("Value", exact=True).fill("pro")
    page.get_by_label("During quiet hours", exact=True).select_option("ignore")
    for n, title in ((1, "Short"), (2, "A longer title")):
        page.get_by_role("button", name="Add variant").click()
        variant = page.get_by_role("group", name=f"Variant {n}", exact=True)
        variant.get_by_label("Title", exact=True).fill(title)
        variant.get_by_label("Body", exact=True).fill("b")
    page.get_by_label("Pick a winner: test the variants on a share, then send the best to the rest").check()
    page.get_by_label("Test share (%)").fill("50")
    page.get_by_label("Decide after", exact=True).fill("30")
    page.get_by_label("Decide after (unit)").select_option("M")
    page.get_by_label("If nothing is conclusive, send").select_option("default")
    standins.fcm.reset()
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Which title")
    campaign_id = page.url.rsplit("/", 1)[1]
    testing = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert testing["experiment"]["status"] == "testing" and testing["experiment"]["test_percent"] == 50
    expect(page.locator("#decision")).to_have_attribute("data-decision", "testing")
    # and one big enough to conclude, made through the API: all 68 devices, nearly all in the test (each arm
    # of about 34 is far from the 19 under which an expected count would be below 5)
    clear = app.server.post("/v1/campaigns", {
        "name": "Clear winner", "message": {"title": "Base", "body": "b"}, "quiet_hours": "ignore",
        "variants": [{"name": "a", "message": {"title": "A", "body": "b"}},
                     {"name": "b", "message": {"title": "B", "body": "b"}}],
        "experiment": {"test_percent": 99, "decide_after": "PT30M"}})  # fmt: skip
    assert clear.status_code == 201, clear.text
    clear_id = clear.json()["campaign_id"]

    # the test shares' opens: every device that got the longer title, or B, opened it
    drain(stack)
    opened = [(shop.tokens[m.token], m.message["data"]["campaign_id"]) for m in standins.fcm.received
              if (m.message["data"].get("campaign_id"), m.message["notification"]["title"])
              in ((campaign_id, "A longer title"), (clear_id, "B"))]  # fmt: skip
    assert {c for _, c in opened} == {campaign_id, clear_id}, [m.message for m in standins.fcm.received]
    events = [{"device_id": d, "name": "opened", "campaign_id": c} for d, c in opened]
    assert app.server.post("/v1/events/batch", {"events": events}).status_code == 202
    drain(stack)
    decide_at = max(app.server.get(f"/v1/campaigns/{c}").json()["experiment"]["decide_at"]
                    for c in (campaign_id, clear_id))  # fmt: skip

    def decide() -> None:
        stack.clock.set(datetime.fromisoformat(decide_at) + timedelta(seconds=1))
        stack.fire_due_schedules()
        stack.drain(timeout=120, schedules=True)

    off_loop(decide)
    # the soft prompt's outcomes, two wordings
    for i, (outcome, wording) in enumerate([("prompted", "plain"), ("accepted", "plain"), ("prompted", "plain"),
                                            ("declined", "plain"), ("prompted", "warm"), ("accepted", "warm")]):  # fmt: skip
        report = {"outcome": outcome, "prompt_id": f"prompt-{i // 2:04d}{wording}", "variant": wording}
        assert app.server.post("/v1/events/opt-in", report).status_code == 202

    page.reload()
    experiment = app.server.get(f"/v1/campaigns/{campaign_id}").json()["experiment"]
    assert experiment["status"] == "decided" and experiment["conclusive"] is False, experiment
    decision = page.locator("#decision")
    expect(decision).to_have_attribute("data-decision", "fallback")
    expect(decision).to_contain_text(f"No conclusive winner: fallback {experiment['winner']}")
    expect(decision).to_contain_text(experiment["reason"])
    expect(page.locator("#comparisons tbody tr")).to_have_count(len(experiment["comparisons"]))
    for c in experiment["comparisons"]:
        row = page.locator(f"#comparisons tr[data-comparison='{c['a']}-{c['b']}']")
        expect(row).to_contain_text(f"{c['rate_a'] * 100:.2f}%")
        expect(row).to_contain_text(f"{c['rate_b'] * 100:.2f}%")
        expect(row.locator("[data-p]")).to_have_text("—" if c["p_value"] is None else f"{c['p_value']:.4f}")
        expect(row.locator("[data-conclusive]")).to_have_text("yes" if c["conclusive"] else "no")

    rates = app.server.get(f"/v1/apps/{app.app_id}/opt-in").json()
    assert (rates["prompted"], rates["accepted"], rates["declined"]) == (3, 2, 1), rates
    expect(page.locator("#opt-in-rates")).to_be_visible()
    overall = page.locator("#opt-in-rates tr[data-prompt='']")
    for name, value in (("prompted", "3"), ("accepted", "2"), ("declined", "1"), ("accept_rate", "66.67%")):
        expect(overall.locator(f"[data-opt={name}]")).to_have_text(value)
    expect(page.locator("#opt-in-rates tr[data-prompt=warm] [data-opt=accept_rate]")).to_have_text("100.00%")
    page.screenshot(path=str(shot("campaign-experiment")), full_page=True)
    page.get_by_role("button", name="Sign out").click()  # the admin reads the same app-wide rates in admin
    sign_in(page, stack, "admin")
    nav(page, "Admin")
    for name, value in (("prompted", "3"), ("accept_rate", "66.67%"), ("decline_rate", "33.33%")):
        expect(page.locator(f"#opt-in-rates tr[data-prompt=''] [data-opt={name}]")).to_have_text(value)
    expect(page.locator("#opt-in-rates tr[data-prompt=plain] [data-opt=accept_rate]")).to_have_text("50.00%")

    page.goto(f"{stack.api_url}/console#/campaign/{clear_id}")
    answer = app.server.get(f"/v1/campaigns/{clear_id}").json()
    won = answer["experiment"]
    assert (won["status"], won["conclusive"], won["winner"]) == ("decided", True, "b"), (
        won["reason"], won["comparisons"], answer["variants"])
    expect(page.locator("#decision")).to_have_attribute("data-decision", "winner")
    expect(page.locator("#decision")).to_contain_text("Winner: b")
    expect(page.locator("#comparisons tr[data-comparison='a-b'] [data-conclusive]")).to_have_text("yes")
    assert page.problems == []


def test_an_intelligent_schedule_sends_each_device_at_its_typical_time_inside_a_window(
    stack: Any, shop: Shop, page: Any
) -> None:
    from playwright.sync_api import expect

    day = (max(datetime.now(UTC), stack.clock.now()) + timedelta(days=30)).date()
    sign_in(page, stack, "marketer")
    nav(page, "New campaign")
    page.get_by_label("Campaign name", exact=True).fill("When they read")
    page.get_by_label("Title", exact=True).fill("Hello")
    page.get_by_label("Body", exact=True).fill("At your usual time")
    page.get_by_label("At each device's typical time").check()
    page.get_by_label("Date", exact=True).fill(day.isoformat())
    page.get_by_label("Window start (local)").fill("09:00")
    page.get_by_label("Window end (local)").fill("20:30")
    page.get_by_label("If a device's time has passed").select_option("next_day")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("When they read")
    campaign_id = page.url.rsplit("/", 1)[1]
    made = shop.app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert made["schedule"] == {"type": "intelligent", "date": day.isoformat(),
                                "window": {"start": "09:00", "end": "20:30"}, "if_passed": "next_day"}  # fmt: skip
    shown = f"each device's typical time on {day.isoformat()}, between 09:00 and 20:30 local"
    expect(page.get_by_text(shown)).to_be_visible()
    # a window that ends before it starts: the API names the field, the form shows it
    page.goto(f"{stack.api_url}/console#/new")
    page.get_by_label("Campaign name", exact=True).fill("Backwards")
    page.get_by_label("Title", exact=True).fill("t")
    page.get_by_label("Body", exact=True).fill("b")
    page.get_by_label("At each device's typical time").check()
    page.get_by_label("Date", exact=True).fill(day.isoformat())
    page.get_by_label("Window start (local)").fill("21:00")
    page.get_by_label("Window end (local)").fill("08:00")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#create [role=alert]").last).to_contain_text("window")
    page.goto(f"{stack.api_url}/console#/campaign/{campaign_id}")
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.locator("#status")).to_have_text("cancelled")
    assert page.problems == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


def test_an_analyst_is_refused_a_creation_and_sees_why(stack: Any, shop: Shop, page: Any) -> None:
    from playwright.sync_api import expect

    before = shop.app.server.get("/v1/campaigns?limit=100").json()["campaigns"]
    sign_in(page, stack, "analyst")
    navigation = page.get_by_role("navigation")
    for hidden in ("New campaign", "Lookup", "Admin", "Audit log"):
        expect(navigation.get_by_role("link", name=hidden, exact=True)).to_be_hidden()
    nav(page, "Segments")
    expect(page.get_by_role("link", name="New segment")).to_have_count(0)
    # asked anyway, the API refuses and the console says why
    page.goto(f"{stack.api_url}/console#/new")
    page.get_by_label("Campaign name", exact=True).fill("Not allowed")
    page.get_by_label("Title", exact=True).fill("t")
    page.get_by_label("Body", exact=True).fill("b")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#create [role=alert]").last).to_contain_text(
        "the analyst role may not call this route"
    )
    assert shop.app.server.get("/v1/campaigns?limit=100").json()["campaigns"] == before

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, stack, "analyst", "not-the-password")
    expect(page.locator("#sign-in-error")).to_have_text("wrong user name or password")
    assert page.problems and all(p.startswith("Failed to load resource") for p in page.problems), (
        page.problems
    )


def test_segments_and_templates_are_created_read_updated_and_deleted(
    stack: Any, shop: Shop, page: Any
) -> None:
    from playwright.sync_api import expect

    app = shop.app
    sign_in(page, stack, "marketer")
    nav(page, "Segments")
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Segment name").fill("Kiritimati VIPs")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Condition on").select_option("timezone")
    page.get_by_label("Comparison").select_option("eq")
    page.get_by_label("Value (commas for several)").fill("Pacific/Kiritimati")
    expect(page.locator("#audience-count")).to_have_text(str(PER_ZONE))
    page.get_by_role("button", name="Create segment").click()
    row = page.get_by_role("row", name=re.compile("^Kiritimati VIPs"))
    expect(row).to_contain_text(str(PER_ZONE))
    (segment,) = [
        s for s in app.server.get("/v1/segments").json()["segments"] if s["name"] == "Kiritimati VIPs"
    ]
    assert segment["audience"] == {"attr": "timezone", "op": "eq", "value": "Pacific/Kiritimati"}

    row.get_by_role("link", name="Edit Kiritimati VIPs").click()
    page.get_by_label("Segment name").fill("Kiritimati VIP members")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("row", name=re.compile("^Kiritimati VIP members"))).to_be_visible()
    assert app.server.get(f"/v1/segments/{segment['segment_id']}").json()["audience"] == segment["audience"]

    # a campaign's audience picks the saved segment
    nav(page, "New campaign")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Condition on").select_option("segment")
    page.get_by_label("Segment", exact=True).select_option(label="Kiritimati VIP members")
    expect(page.locator("#audience-count")).to_have_text(str(PER_ZONE))

    nav(page, "Segments")
    page.get_by_role("button", name="Delete Kiritimati VIP members").click()
    expect(page.get_by_role("row", name=re.compile("^Kiritimati VIP members"))).to_have_count(0)
    assert app.server.get(f"/v1/segments/{segment['segment_id']}").status_code == 404

    nav(page, "Templates")
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Template name").fill("Welcome back")
    page.get_by_label("Title", exact=True).fill("Welcome back, {{ attributes.first_name }}")
    page.get_by_label("Body", exact=True).fill("We kept your cart.")
    page.get_by_role("group", name="Message").get_by_text("Image, link and buttons").click()
    page.get_by_label("Link (on tap)").fill("myapp://cart")
    page.get_by_role("button", name="Add button").click()
    page.get_by_label("Button id").fill("open")
    page.get_by_label("Button text").fill("Open cart")
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("row", name=re.compile("^Welcome back"))).to_be_visible()
    (template,) = [
        t for t in app.server.get("/v1/templates").json()["templates"] if t["name"] == "Welcome back"
    ]
    assert template["message"]["url"] == "myapp://cart"
    assert template["message"]["actions"] == [{"id": "open", "title": "Open cart"}]

    page.get_by_role("link", name="Edit Welcome back").click()
    expect(page.get_by_label("Title", exact=True)).to_have_value("Welcome back, {{ attributes.first_name }}")
    page.get_by_label("Body", exact=True).fill("Your cart is still here.")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("row", name=re.compile("^Welcome back"))).to_be_visible()
    assert app.server.get(f"/v1/templates/{template['template_id']}").json()["message"]["body"] == (
        "Your cart is still here."
    )
    nav(page, "New campaign")
    page.get_by_label("Start from a template").select_option(label="Welcome back")
    expect(page.get_by_label("Body", exact=True)).to_have_value("Your cart is still here.")

    nav(page, "Templates")
    page.get_by_role("button", name="Delete Welcome back").click()
    expect(page.get_by_role("row", name=re.compile("^Welcome back"))).to_have_count(0)
    assert app.server.get(f"/v1/templates/{template['template_id']}").status_code == 404
    assert page.problems == []


def test_a_device_and_a_user_with_all_their_devices_are_looked_up(stack: Any, shop: Shop, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, stack, "marketer")
    nav(page, "Lookup")
    page.get_by_label("Device id").fill("loc-kiritimati-2")
    page.get_by_role("button", name="Look up device").click()
    device = page.locator("#device [data-device='loc-kiritimati-2']")
    expect(device.locator("[data-field=timezone]")).to_have_text("Pacific/Kiritimati")
    expect(device.get_by_role("row", name="first_name Chen")).to_be_visible()
    assert "token" not in device.inner_text().split()  # the push address is not shown

    page.get_by_label("User id").fill("user-ana")
    page.get_by_role("button", name="Look up user").click()
    expect(page.locator("#user")).to_contain_text("user-ana: 2 devices")
    expect(page.locator("#user [data-device]")).to_have_count(2)
    ids = sorted(
        page.locator("#user [data-device]").evaluate_all("(els) => els.map((e) => e.dataset.device)")
    )
    assert ids == ["loc-kiritimati-0", "loc-pagopago-0"]

    page.get_by_label("User id").fill("nobody")
    page.get_by_role("button", name="Look up user").click()
    expect(page.locator("#user [role=alert]")).to_contain_text("no device of this user found")


def test_a_journey_built_in_the_graph_editor_published_and_its_step_counts_read_back(
    stack: Any, standins: Standins, shop: Shop, page: Any
) -> None:
    from playwright.sync_api import expect

    app = shop.app
    sign_in(page, stack, "marketer")
    nav(page, "Journeys")
    page.get_by_role("link", name="New journey").click()
    page.get_by_label("Journey name").fill("Welcome")
    page.get_by_label("Entry event").fill("signup")
    page.get_by_label("During quiet hours", exact=True).select_option("ignore")

    def add(step_id: str, kind: str) -> Any:
        page.get_by_label("New step id").fill(step_id)
        page.get_by_label("Step type").select_option(kind)
        page.get_by_role("button", name="Add step").click()
        return page.get_by_role("group", name=re.compile(rf"^Step {step_id} "))

    hello = add("hello", "send")
    hello.get_by_label("Title", exact=True).fill("Welcome, {{ attributes.first_name }}")
    hello.get_by_label("Body", exact=True).fill("Glad you joined.")
    pause = add("pause", "wait")
    pause.get_by_label("Wait", exact=True).fill("")  # no duration: the API says so, on the step
    done = add("done", "exit")
    hello.get_by_label("Then go to").select_option("pause")
    pause.get_by_label("Then go to").select_option("done")
    page.get_by_label("First step").select_option("hello")
    expect(page.locator("#graph [data-edge='hello->pause']")).to_have_count(1)
    page.get_by_role("button", name="Publish journey").click()
    expect(pause.get_by_role("alert")).to_have_text("duration: give exactly one of duration and until")
    expect(hello.get_by_role("alert")).to_have_text("")
    page.screenshot(path=str(shot("journey-validation")), full_page=True)

    pause.get_by_role("button", name="Remove step pause").click()
    hello.get_by_label("Then go to").select_option("done")
    expect(page.locator("#graph [data-edge='hello->done']")).to_have_count(1)
    assert done.is_visible()
    page.get_by_role("button", name="Publish journey").click()
    expect(page.locator("#status")).to_have_text("active")
    journey_id = page.url.rsplit("/", 1)[1]
    definition = app.server.get(f"/v1/journeys/{journey_id}").json()["definition"]
    assert definition["first"] == "hello" and set(definition["steps"]) == {"hello", "done"}

    standins.fcm.reset()
    joined = ["loc-kiritimati-1", "loc-pagopago-1", "loc-pagopago-3"]
    events = [{"device_id": d, "name": "signup"} for d in joined]
    assert app.server.post("/v1/events/batch", {"events": events}).status_code == 202
    drain(stack)
    titles = sorted(m.message["notification"]["title"] for m in standins.fcm.received)
    assert titles == ["Welcome, Ben", "Welcome, Ben", "Welcome, Dana"], titles

    page.reload()
    steps = app.server.get(f"/v1/journeys/{journey_id}").json()["stats"]["steps"]
    assert steps["hello"]["entered"] == steps["hello"]["sent"] == len(joined), steps
    expect(page.locator("#graph [data-node-counts=hello]")).to_have_text("entered 3 · sent 3 · opened 0")
    expect(page.locator("[data-counts=hello]")).to_contain_text("sent 3")
    page.screenshot(path=str(shot("journey-counts")), full_page=True)

    page.get_by_role("button", name="Pause journey").click()
    expect(page.locator("#status")).to_have_text("paused")
    page.get_by_role("button", name="Resume journey").click()
    expect(page.locator("#status")).to_have_text("active")
    page.get_by_role("button", name="Stop journey").click()
    expect(page.locator("#status")).to_have_text("stopped")
    assert app.server.get(f"/v1/journeys/{journey_id}").json()["status"] == "stopped"
    # the refused first publish (400) is Chromium's only complaint: no script error
    assert page.problems == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]


def test_a_journey_webhook_step_signed_with_a_rotated_secret_shows_its_calls_sent_and_failed(
    stack: Any, standins: Standins, shop: Shop, page: Any
) -> None:
    from playwright.sync_api import expect

    app = shop.app
    sign_in(page, stack, "admin")
    nav(page, "Admin")  # the signing secret the receiver checks, rotated and shown once
    page.get_by_role("button", name="Rotate the webhook secret").click()
    page.get_by_role("button", name=re.compile(r"^Confirm: rotate the webhook secret")).click()
    secret = page.locator("#rotated code[data-secret=webhook-secret]").inner_text()
    url = standins.webhook.endpoint(secret)
    standins.webhook.fail(url, 400)  # the first call is refused for good: counted failed, never retried
    page.goto(f"{stack.api_url}/console#/journey/new")
    page.get_by_label("Journey name").fill("Tell the CRM")
    page.get_by_label("Entry event").fill("hooked")
    for step_id, kind in (("tell", "webhook"), ("done", "exit")):
        page.get_by_label("New step id").fill(step_id)
        page.get_by_label("Step type").select_option(kind)
        page.get_by_role("button", name="Add step").click()
    tell = page.get_by_role("group", name=re.compile(r"^Step tell "))
    tell.get_by_label("Webhook URL").fill("https://169.254.169.254/latest/meta-data")
    tell.get_by_label("Then go to").select_option("done")
    page.get_by_label("First step").select_option("tell")
    page.get_by_role("button", name="Publish journey").click()
    expect(tell.get_by_role("alert")).to_contain_text("url:")  # refused on the step it names
    tell.get_by_label("Webhook URL").fill(url)
    page.get_by_role("button", name="Publish journey").click()
    expect(page.locator("#status")).to_have_text("active")
    journey_id = page.url.rsplit("/", 1)[1]
    assert app.server.get(f"/v1/journeys/{journey_id}").json()["definition"]["steps"]["tell"]["url"] == url

    events = [{"device_id": d, "name": "hooked"} for d in ("loc-kiritimati-2", "loc-kiritimati-3")]
    assert app.server.post("/v1/events/batch", {"events": events}).status_code == 202
    drain(stack)
    calls = standins.webhook.received(url)
    assert sorted(r.status for r in calls) == [200, 400] and all(r.verified for r in calls)  # signed with it
    page.reload()
    counts = app.server.get(f"/v1/journeys/{journey_id}").json()["stats"]["steps"]["tell"]
    assert (counts["entered"], counts["sent"], counts["failed"], counts["retried"]) == (2, 1, 1, 0), counts
    node = page.locator("#graph [data-node-counts=tell]")
    expect(node.locator("[data-line='0']")).to_have_text("entered 2 · sent 1")
    expect(node.locator("[data-line='1']")).to_have_text("failed 1 · retried 0")
    expect(page.locator("[data-counts=tell]")).to_have_text("entered 2 · sent 1 · failed 1 · retried 0")
    page.screenshot(path=str(shot("journey-webhook")), full_page=True)
    page.get_by_role("button", name="Stop journey").click()
    expect(page.locator("#status")).to_have_text("stopped")
    assert page.problems == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


def test_an_admin_sets_the_defaults_issues_and_revokes_a_key_and_reads_the_audit_log(
    stack: Any, shop: Shop, page: Any
) -> None:
    from playwright.sync_api import expect

    app = shop.app
    sign_in(page, stack, "admin")
    nav(page, "Admin")
    page.get_by_label("Quiet hours start").fill("22:00")
    page.get_by_label("Quiet hours end").fill("07:30")
    page.get_by_label("Attribution window (days)").fill("5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings [role=status]")).to_contain_text("Saved")
    settings = app.server.get(f"/v1/apps/{app.app_id}/settings").json()
    assert settings["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    assert settings["attribution_window_days"] == 5

    # the keys: listed by id, kind and their start and last four characters; one issued (shown once), revoked
    listed = app.server.get(f"/v1/apps/{app.app_id}/keys").json()["keys"]
    expect(page.locator("#key-list tbody tr")).to_have_count(len(listed))
    page.get_by_label("Kind of key").select_option("analytics")
    page.get_by_role("button", name="Issue key").click()
    issued = page.locator("#issued code.secret")
    key, key_id = issued.inner_text(), issued.get_attribute("data-key-id")
    assert Api(stack.api_url, key).get("/v1/campaigns?limit=1").status_code == 200
    row = page.locator(f"#key-list tr[data-key='{key_id}']")
    expect(row).to_contain_text("analytics")
    expect(row.locator("[data-key-hint]")).to_have_text(f"pea.{app.app_id}.…{key[-4:]}")
    for secret in (key, app.server.key, app.client.key):
        assert secret.rsplit(".", 1)[1][:-4] not in page.locator("#keys").inner_text()
    page.get_by_role("button", name=f"Revoke {key_id}", exact=True).click()
    page.get_by_role("button", name=f"Confirm revoke {key_id}").click()
    expect(page.locator("#issued")).to_have_text(f"Key {key_id} revoked.")
    expect(row).to_have_count(0)
    expect(page.get_by_label("Kind of key")).to_be_focused()  # the keyboard carries on from the form
    # the devices function revoked it, so it refuses it at once (the others within their 30 s app cache)
    assert Api(stack.api_url, key).get(f"/v1/apps/{app.app_id}/keys").status_code == 401

    nav(page, "Audit log")
    revoked = page.locator("#audit tr[data-action^='DELETE /v1/apps/']").first
    expect(revoked).to_contain_text("console-admin (admin)")
    expect(revoked).to_contain_text(str(key_id))
    assert page.problems == []


def test_a_new_user_chooses_a_password_at_first_sign_in_and_the_admin_manages_console_users(
    stack: Any, shop: Shop, browser: Any
) -> None:
    from playwright.sync_api import expect

    found: dict[str, list[str]] = {}
    users = f"/v1/apps/{shop.app.app_id}/console-users"
    temporary, chosen = "Welcome-Passw0rd", "My-Own-Passw0rd-1"
    admin = new_page(browser, bypass_csp=True)  # axe.min.js goes in as an inline script (see below)
    sign_in(admin, stack, "admin")
    nav(admin, "Admin")
    admin.get_by_label("New user name", exact=True).fill("new-analyst")
    admin.get_by_label("Role", exact=True).select_option("analyst")
    admin.get_by_label("Temporary password (optional)").fill(temporary)
    admin.get_by_role("button", name="Create console user").click()
    expect(admin.locator("#user-done")).to_contain_text("new-analyst created as analyst")
    row = admin.locator("#users tr[data-user='new-analyst']")
    expect(row).to_contain_text("must choose a password")
    admin.get_by_label("New user name", exact=True).fill("leaver")
    admin.get_by_role("button", name="Create console user").click()  # its temporary password is made
    expect(admin.locator("#user-done code.secret")).to_have_count(1)
    check(admin, "admin-users", 1100, found)

    person = new_page(browser, 390, bypass_csp=True)
    sign_in(person, stack, "analyst", password=temporary, user="new-analyst")
    expect(person.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    check(person, "new-password", 390, found)
    person.get_by_label("New password", exact=True).fill(chosen)
    person.get_by_label("Repeat the new password").fill(chosen + "x")
    person.get_by_role("button", name="Set password and sign in").click()
    expect(person.locator("#new-password-error")).to_contain_text("differ")
    person.get_by_label("New password", exact=True).fill("weak")
    person.get_by_label("Repeat the new password").fill("weak")
    person.get_by_role("button", name="Set password and sign in").click()
    expect(person.locator("#new-password-error")).to_contain_text("new_password")  # the pool's refusal, shown
    person.get_by_label("New password", exact=True).fill(chosen)
    person.get_by_label("Repeat the new password").fill(chosen)
    person.get_by_role("button", name="Set password and sign in").click()
    expect(person.locator("#who")).to_have_text("new-analyst · analyst")
    expect(person.get_by_role("link", name="New campaign")).to_be_hidden()
    person.context.close()

    admin.reload()  # the list again: the user has chosen its password
    admin.get_by_role("heading", name="Console users").wait_for()
    expect(row).to_contain_text("confirmed")
    admin.get_by_label("Role of new-analyst", exact=True).select_option("marketer")
    admin.get_by_role("button", name="Save role of new-analyst").click()
    expect(admin.locator("#user-done")).to_have_text("new-analyst is now marketer.")
    admin.get_by_role("button", name="Disable new-analyst").click()
    expect(row).to_contain_text("disabled")
    listed = {u["username"]: u for u in shop.app.server.get(users).json()["users"]}
    assert (listed["new-analyst"]["role"], listed["new-analyst"]["enabled"]) == ("marketer", False)
    refused = Api(stack.api_url).post("/v1/console/session", {"username": "new-analyst", "password": chosen})
    assert refused.status_code == 401, refused.text
    admin.get_by_role("button", name="Delete leaver").click()
    admin.get_by_role("button", name="Confirm delete leaver").click()
    expect(admin.locator("#user-done")).to_have_text("leaver deleted.")
    expect(admin.locator("#users tr[data-user='leaver']")).to_have_count(0)
    assert "leaver" not in {u["username"] for u in shop.app.server.get(users).json()["users"]}
    admin.keyboard.press("Shift+Tab")  # the page is still usable by keyboard after the row went
    assert admin.problems == [], admin.problems
    admin.context.close()
    assert found == {}, found


def test_a_campaign_created_by_keyboard_alone(stack: Any, shop: Shop, page: Any) -> None:
    from playwright.sync_api import expect

    keys = page.keyboard
    page.goto(f"{stack.api_url}/console#/campaigns")

    def tab_to(name: str, limit: int = 80) -> None:
        for _ in range(limit):
            keys.press("Tab")
            focused = page.evaluate("""() => { const e = document.activeElement;
              return (e.labels && e.labels[0] ? e.labels[0].textContent : e.textContent || '').trim(); }""")
            if focused == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("User name")
    keys.type("console-marketer")
    tab_to("Password")
    keys.type(CONSOLE_PASSWORD)
    keys.press("Enter")
    expect(page.locator("#who")).to_have_text("console-marketer · marketer")
    tab_to("New campaign")
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("New campaign")
    tab_to("Campaign name")
    keys.type("Typed, not clicked")
    tab_to("Title")
    keys.type("Keyboard")
    tab_to("Body")
    keys.type("Made with the keyboard alone")
    tab_to("Add condition")
    keys.press("Enter")
    tab_to("Tag name")
    keys.type("city")
    tab_to("Value")
    keys.type("kiritimati")
    expect(page.locator("#audience-count")).to_have_text(str(PER_ZONE))
    tab_to("Now")  # the radio group: Tab enters it at its choice, arrows move the choice
    keys.press("ArrowRight")
    tab_to("Send at (UTC)")
    later = max(datetime.now(UTC), stack.clock.now()) + timedelta(days=30)
    keys.type(later.strftime("%m%d%Y"))
    keys.press("Tab")
    keys.type(later.strftime("%I%M%p"))
    tab_to("Create campaign")
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Typed, not clicked")
    campaign_id = page.url.rsplit("/", 1)[1]
    made = shop.app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert made["status"] == "scheduled" and made["schedule"]["type"] == "at"
    assert made["schedule"]["at"].startswith(later.strftime("%Y-%m-%dT%H:%M")), made["schedule"]
    tab_to("Cancel campaign")
    keys.press("Enter")
    expect(page.locator("#status")).to_have_text("cancelled")
    assert page.problems == []


def shot(name: str) -> Any:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def test_every_view_is_axe_clean_and_fits_at_390_800_and_1100_px(
    stack: Any, standins: Standins, shop: Shop, browser: Any
) -> None:
    from playwright.sync_api import expect

    assert AXE.is_file(), "axe-core is missing: `make axe` installs the pinned version"
    secret = shop.app.server.post(f"/v1/apps/{shop.app.app_id}/webhook-secret").json()["webhook_secret"]
    hook = standins.webhook.endpoint(secret)
    journey = shop.app.server.post("/v1/journeys", {
        "name": "Shown", "entry": {"event": "shown"}, "first": "wait",
        "steps": {"wait": {"type": "wait", "duration": "PT1H", "next": "send"},
                  "send": {"type": "send", "message": {"title": "t", "body": "b"}, "next": "tell"},
                  "tell": {"type": "webhook", "url": hook, "next": "done"},
                  "done": {"type": "exit"}}})  # fmt: skip
    assert journey.status_code == 201, journey.text
    at = (max(datetime.now(UTC), stack.clock.now()) + timedelta(days=30)).replace(microsecond=0)
    tested = shop.app.server.post("/v1/campaigns", {
        "name": "Tested", "message": {"title": "t", "body": "b"}, "schedule": {"type": "at", "at": at.isoformat()},
        "variants": [{"name": "a", "message": {"title": "A", "body": "b"}},
                     {"name": "b", "message": {"title": "B", "body": "b"}}],
        "experiment": {"test_percent": 20}})  # fmt: skip
    assert tested.status_code == 201, tested.text
    segment = shop.app.server.post("/v1/segments", {
        "name": "Shown segment with a long name to wrap",
        "audience": {"attr": "tags.plan", "op": "eq", "value": "pro"}})  # fmt: skip
    assert segment.status_code == 201, segment.text
    template = shop.app.server.post("/v1/templates", {
        "name": "Shown template", "message": {"title": "A title of some length", "body": "b"}})  # fmt: skip
    assert template.status_code == 201, template.text
    views = {"campaigns": "campaigns", "campaign-new": "new", "campaign": f"campaign/{shop.campaign_id}",
             "campaign-experiment": f"campaign/{tested.json()['campaign_id']}",
             "campaign-edit": f"edit/{tested.json()['campaign_id']}",
             "segments": "segments", "segment-new": "segment/new",
             "segment": f"segment/{segment.json()['segment_id']}", "templates": "templates",
             "template-new": "template/new", "template": f"template/{template.json()['template_id']}",
             "journeys": "journeys", "journey-new": "journey/new",
             "journey": f"journey/{journey.json()['journey_id']}", "lookup": "lookup", "admin": "admin",
             "audit": "audit"}  # fmt: skip
    # each view's tables, there before it is measured (the admin's keys and users load after its heading)
    tables = {"campaigns": ["#campaigns"], "campaign": ["#variants"], "segments": ["#segments"],
              "templates": ["#templates"], "journeys": ["table"], "admin": ["#key-list", "#users"],
              "audit": ["#audit"], "lookup": ["#device table.cards", "#user table"]}  # fmt: skip
    found: dict[str, list[str]] = {}
    # 390: a phone; 800: a tablet, where the cards of the phone give way to tables that must still fit; 1100: a laptop
    for width in (390, 800, 1100):
        # axe.min.js is injected as an inline script, which the page's own CSP forbids: bypassed here only
        page = new_page(browser, width, bypass_csp=True)
        page.goto(f"{stack.api_url}/console")
        page.get_by_label("User name").wait_for()
        check(page, "sign-in", width, found)
        sign_in(page, stack, "admin")
        for name, view in views.items():
            page.goto(f"{stack.api_url}/console#/{view}")
            page.get_by_role("heading", level=1).first.wait_for()
            page.wait_for_load_state("networkidle")
            if view == "lookup":
                page.get_by_label("Device id").fill("con-00")  # its behaviour too: it opened and bought
                page.get_by_role("button", name="Look up device").click()
                page.get_by_label("User id").fill("user-ana")
                page.get_by_role("button", name="Look up user").click()
                page.locator("#user [data-device]").first.wait_for()
            if view == "journey/new":  # a step of every type, each dropdown showing its longest choice
                for kind in ("send", "wait", "wait_for", "split", "random", "holdout", "webhook", "exit"):
                    page.get_by_label("New step id").fill(f"step_{kind}_of_the_journey")
                    page.get_by_label("Step type").select_option(kind)
                    page.get_by_role("button", name="Add step").click()
                assert page.evaluate(LONGEST_CHOICES, "#journey-form") >= 20  # every step type's dropdowns
            if view == "new":
                page.get_by_role("button", name="Add condition").click()
                page.get_by_role("button", name="Add variant").click()
                page.get_by_label("Pick a winner: test the variants on a share, then send the best to the rest").check()
                page.get_by_label("At each device's typical time").check()
            for selector in tables.get(name, []):
                page.locator(selector).first.wait_for()
            if name == "admin":  # a table read as one at every width: headers, and cells named by their content
                keys = page.locator("#key-list")
                expect(keys.get_by_role("columnheader")).to_have_count(5)
                kind = keys.get_by_role("row").nth(1).get_by_role("cell").nth(1)
                expect(kind).to_have_accessible_name(re.compile("^(server|client|analytics)$"))
            check(page, name, width, found)
        assert page.problems == [], page.problems
        page.context.close()
    assert found == {}, found


# What would make a person scroll sideways: the page wider than the window, any shown element reaching past
# its right edge (or wider than it), any scroll container (a table's region, say) whose content is wider
# than its box. What an ancestor clips away is not shown; a text field scrolling its own long value, or a
# box of 1 px kept for screen readers only (a card table's header row), is not scrolled by anyone.
SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth, out = [];
  const name = (e) => e.tagName.toLowerCase() + (e.id ? `#${e.id}` : "")
    + (typeof e.className === "string" && e.className.trim() ? `.${e.className.trim().split(/\\s+/).join(".")}` : "")
    + (e.textContent.trim() ? ` "${e.textContent.trim().slice(0, 30)}"` : "");
  if (document.scrollingElement.scrollWidth > width)
    out.push(`the page scrolls sideways: scrollWidth ${document.scrollingElement.scrollWidth} > ${width}`);
  const clips = new Map([[document.body, [-Infinity, Infinity]]]);  // the shown span [left, right] inside each
  for (const e of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(e), r = e.getBoundingClientRect();
    const [left, right] = clips.get(e.parentElement) || [-Infinity, Infinity];
    const clipping = style.overflowX !== "visible" || style.clipPath !== "none";
    clips.set(e, clipping ? [Math.max(left, r.left), Math.min(right, r.right)] : [left, right]);
    if (!e.checkVisibility() || r.width === 0 || r.height === 0) continue;
    const [shownLeft, shownRight] = [Math.max(left, r.left), Math.min(right, r.right)];
    if (shownRight <= Math.max(shownLeft, 0)) continue;  // clipped away, or put off-screen on purpose
    if (shownRight - shownLeft > width + 0.5 || shownRight > width + 0.5)
      out.push(`${name(e)} spans ${Math.round(shownLeft)}..${Math.round(shownRight)} px of ${width}`);
    if (["auto", "scroll", "hidden"].includes(style.overflowX) && !e.matches("input, textarea, select")
        && e.clientWidth > 1 && e.scrollWidth > e.clientWidth)
      out.push(`${name(e)} scrolls sideways: scrollWidth ${e.scrollWidth} > clientWidth ${e.clientWidth}`);
  }
  return out.slice(0, 8);
}"""


# A dropdown shows only its chosen option, on one line: its text is cut when the box is narrower than the
# text. Measured against a copy of the dropdown holding only that option, sized by its content (the same
# font, padding and arrow), put beside it unseen: a box narrower than the copy cuts the text.
CLIPPED_SELECTS = """() => {
  const out = [];
  for (const s of document.querySelectorAll("select")) {
    if (!s.checkVisibility() || !s.selectedOptions.length) continue;
    const text = s.selectedOptions[0].text, probe = s.cloneNode(false);
    probe.removeAttribute("id");
    probe.append(new Option(text));
    probe.style.cssText = "position: absolute; visibility: hidden; width: auto; min-width: 0; max-width: none";
    s.after(probe);
    const needs = probe.getBoundingClientRect().width, has = s.getBoundingClientRect().width;
    probe.remove();
    const label = s.labels[0]?.textContent.trim() || s.name;
    if (needs > has + 0.5)
      out.push(`select "${label}" cuts "${text}": needs ${Math.ceil(needs)} px, has ${Math.floor(has)}`);
  }
  return out;
}"""

# Each dropdown inside `scope` set to its longest option, as a person may choose it (the form redraws as it would)
LONGEST_CHOICES = """(scope) => {
  let n = 0;
  for (const s of document.querySelector(scope).querySelectorAll("select")) {
    const longest = [...s.options].reduce((a, b) => (b.text.length > a.text.length ? b : a), s.options[0]);
    if (!longest || s.value === longest.value) { n += 1; continue; }
    s.value = longest.value;
    s.dispatchEvent(new Event("change", { bubbles: true }));
    n += 1;
  }
  return n;
}"""


def check(page: Any, name: str, width: int, found: dict[str, list[str]]) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
    if bad:
        found[f"{name}@{width}"] = bad
    found.setdefault(f"{name}@{width}", []).extend(page.evaluate(SIDEWAYS) + page.evaluate(CLIPPED_SELECTS))
    if not found[f"{name}@{width}"]:
        del found[f"{name}@{width}"]
    page.screenshot(path=str(shot(f"{name}-{width}")), full_page=True)
