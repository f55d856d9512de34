"""The web SDK in headless Chromium: the engine's real Web Push payload shown by the SDK's service worker.

One browser session for the module. The site (sdk/web served as is) is on one 127.0.0.1 port, the engine's
API on another, so every call the SDK makes is a real cross-origin request through the API's CORS.

Chromium's own push service is out of reach here, so the Web Push stand-in plays its part: the page's
PushManager hands out a stand-in subscription, the engine encrypts to it, the stand-in decrypts what a
browser would, and DevTools' ServiceWorker.deliverPushMessage hands that text to the service worker.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pushengine.payloads.base import collapse_id
from tests.conftest import APPLE_WEB_PUSH_HOST, ROOT, Api, AppKeys, Standins, new_app

pytestmark = pytest.mark.e2e

SDK = ROOT / "sdk" / "web"
REPORTS = ROOT / "reports"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
IMAGE = "https://cdn.example.com/sale.png"
DEVICE_BODY = ("platform", "timezone", "locale", "country", "tags", "attributes", "opted_in", "user_id")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing: `make chromium` installs Debian's"
    return found


def eventually(check: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(0.1)


class _Site(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Site, directory=str(SDK)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Browser:
    """The page, its DevTools session and what DevTools said about service worker registrations."""

    def __init__(
        self, page: Any, cdp: Any, context: Any, registrations: dict[str, Any], versions: dict[str, Any]
    ) -> None:
        self.page, self.cdp, self.context = page, cdp, context
        self.registrations, self.versions = registrations, versions  # the latest DevTools said of each, by id
        self.chromium: Any = None  # the launched browser, for pages in contexts of their own

    def registration_id(self) -> str:
        """The live registration whose newest version is activated: a push sent while a re-registered
        worker is still installing would go to a version on its way out."""

        def ready() -> list[str]:
            live = {r["registrationId"] for r in self.registrations.values() if not r.get("isDeleted")}
            newest: dict[str, dict[str, Any]] = {}
            for v in sorted(self.versions.values(), key=lambda v: int(v["versionId"])):
                if v["registrationId"] in live:
                    newest[v["registrationId"]] = v
            return [rid for rid, v in newest.items() if v["status"] == "activated"]

        return str(eventually(ready, what="an activated worker")[-1])

    def deliver(self, origin: str, payload: Any) -> None:
        """What the browser does when its push service hands it a message: DevTools' own push delivery."""
        self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": origin, "registrationId": self.registration_id(), "data": json.dumps(payload)})  # fmt: skip

    def notifications(self) -> list[dict[str, Any]]:
        return self.page.evaluate("""async () => {
            const registration = await navigator.serviceWorker.ready;
            return (await registration.getNotifications()).map((n) => ({
                title: n.title, body: n.body, tag: n.tag, image: n.image, icon: n.icon, badge: n.badge,
                actions: n.actions.map((a) => ({action: a.action, title: a.title})),
                requireInteraction: n.requireInteraction, data: n.data}));
        }""")

    def worker(self) -> Any:
        return eventually(lambda: self.context.service_workers, what="the service worker")[0]


def stand_in_push_manager(subscription: dict[str, Any]) -> str:
    """Chromium's push service is unreachable: PushManager answers with the stand-in's subscription instead."""
    return """(() => {
        const sub = SUBSCRIPTION;
        let current = null;
        const make = () => ({endpoint: sub.endpoint, expirationTime: null, options: {userVisibleOnly: true},
            keys: sub.keys, toJSON() { return {endpoint: sub.endpoint, expirationTime: null, keys: sub.keys}; },
            unsubscribe: async () => { current = null; return true; }});
        PushManager.prototype.subscribe = async function (options) {
            if (!options || !options.applicationServerKey) throw new Error("no applicationServerKey");
            window.subscribedWithKey = Array.from(new Uint8Array(options.applicationServerKey));
            current = make();
            return current;
        };
        PushManager.prototype.getSubscription = async function () { return current; };
    })();""".replace("SUBSCRIPTION", json.dumps(subscription))


@pytest.fixture(scope="module")
def app(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "websdk")


@pytest.fixture(scope="module")
def subscription(standins: Standins, app: AppKeys) -> dict[str, Any]:
    """The subscription the page's PushManager hands out: the stand-in's, restricted to the app's VAPID key."""
    return standins.webpush.new_subscription(app.vapid_public_key)


@pytest.fixture(scope="module")
def browser(site: str, stack: Any, app: AppKeys, subscription: dict[str, Any]) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        context = launched.new_context(locale="de-DE", timezone_id="Europe/Berlin",
                                       viewport={"width": 900, "height": 700})  # fmt: skip
        context.grant_permissions(["notifications"], origin=site)
        context.add_init_script(stand_in_push_manager(subscription))
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        registrations: dict[str, Any] = {}
        versions: dict[str, Any] = {}
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda e: registrations.update({r["registrationId"]: r for r in e["registrations"]}))  # fmt: skip
        cdp.on(
            "ServiceWorker.workerVersionUpdated",
            lambda e: versions.update({v["versionId"]: v for v in e["versions"]}),
        )
        cdp.send("ServiceWorker.enable")
        query = f"api={stack.api_url}&key={app.client.key}&vapid={app.vapid_public_key}"
        page.goto(f"{site}/demo.html?{query}")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        found = Browser(page, cdp, context, registrations, versions)
        found.chromium = launched
        yield found
        launched.close()


def drain(stack: Any) -> None:
    """stack.drain() on its own thread: Playwright's sync API keeps an event loop running on this one, and
    the sender's handler runs its own."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            stack.drain(timeout=120)
        except BaseException as exc:  # re-raised on the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def campaign(app: AppKeys, message: dict[str, Any]) -> str:
    r = app.server.post("/v1/campaigns", {"name": "web sdk", "message": message, "quiet_hours": "ignore"})
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def stats(app: AppKeys, campaign_id: str) -> dict[str, Any]:
    r = app.server.get(f"/v1/campaigns/{campaign_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["stats"])


def pushed(standins: Standins, subscription: dict[str, Any], campaign_id: str) -> Any:
    """What the engine sent for this campaign, decrypted by the stand-in as the browser would."""
    (received,) = [
        r for r in standins.webpush.received_for(subscription) if r.payload.get("campaign_id") == campaign_id
    ]
    return received.payload


def test_demo_page_subscribes_and_registers_the_device(
    browser: Browser, app: AppKeys, subscription: dict[str, Any]
) -> None:
    page = browser.page
    button = page.locator("#subscribe")
    assert button.is_visible() and button.inner_text() == "Subscribe to notifications"
    REPORTS.mkdir(exist_ok=True)
    shot = REPORTS / "web-sdk-demo.png"
    png = page.screenshot(path=str(shot), full_page=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000 and shot.stat().st_size == len(png)

    button.click()
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Subscribed')")
    device_id = page.evaluate("window.push.deviceId")
    device = app.server.get(f"/v1/devices/{device_id}").json()
    assert device["platform"] == "web" and device["subscription"]["endpoint"] == subscription["endpoint"]
    assert (device["timezone"], device["locale"]) == ("Europe/Berlin", "de-DE")  # Intl and navigator.language
    key = bytes(page.evaluate("window.subscribedWithKey"))
    assert len(key) == 65 and key[0] == 4  # the app's VAPID public key, decoded from base64url
    # the device secret the registration issued is kept beside the device id (the worker reads IndexedDB)
    secret = page.evaluate("localStorage.getItem('pushengine.device_secret.' + window.push.deviceId)")
    kept = page.evaluate("import('./push.js').then((m) => m.secretStore.get(window.push.deviceId))")
    assert secret and kept == secret
    anyone = app.client.as_key(app.client.key)
    assert anyone.get(f"/v1/devices/{device_id}").status_code == 403
    assert anyone.get(f"/v1/devices/{device_id}", headers={"x-device-secret": secret}).status_code == 200


def test_the_page_names_its_user_with_the_token_its_backend_minted(browser: Browser, app: AppKeys) -> None:
    from pushengine.identity import mint

    page, secret = browser.page, app.client.trust.identity_secret if app.client.trust else ""
    device_id = page.evaluate("window.push.deviceId")
    refused = page.evaluate("window.push.refresh({user_id: 'u-web'}).then(() => 0, (e) => e.status)")
    assert refused == 403  # no token yet: the engine does not let the page claim a user
    page.evaluate("(token) => window.push.setUserToken(token)", mint(str(secret), "u-web"))
    page.evaluate("window.push.refresh({user_id: 'u-web'})")
    assert app.server.get(f"/v1/devices/{device_id}").json()["user_id"] == "u-web"


def test_rich_push_is_shown_replaced_by_tag_and_reported(
    browser: Browser, site: str, stack: Any, standins: Standins, app: AppKeys, subscription: dict[str, Any]
) -> None:
    campaign_id = campaign(app, {
        "title": "Flash sale", "body": "{{ attributes.first_name | default: 'Hi' }}, 40% off today",
        "image_url": IMAGE, "url": "https://shop.example.com/sale",
        "actions": [{"id": "buy", "title": "Buy now", "url": "https://shop.example.com/cart"},
                    {"id": "later", "title": "Later"}],
        "web": {"icon": "https://cdn.example.com/icon.png", "badge": "https://cdn.example.com/badge.png",
                "require_interaction": True},
    })  # fmt: skip
    drain(stack)
    payload = pushed(standins, subscription, campaign_id)
    browser.deliver(site, payload)
    (shown,) = eventually(browser.notifications, what="the notification")
    assert (shown["title"], shown["body"]) == ("Flash sale", "Hi, 40% off today")
    assert shown["image"] == IMAGE and shown["icon"] == "https://cdn.example.com/icon.png"
    assert shown["badge"] == "https://cdn.example.com/badge.png" and shown["requireInteraction"] is True
    assert shown["actions"] == [{"action": "buy", "title": "Buy now"}, {"action": "later", "title": "Later"}]
    assert shown["tag"] == payload["tag"] == collapse_id(campaign_id)  # the campaign's collapse id
    assert shown["data"]["campaign_id"] == campaign_id

    browser.deliver(site, {**payload, "title": "Flash sale, last hours"})  # a repeat: same tag
    eventually(lambda: [n["title"] for n in browser.notifications()] == ["Flash sale, last hours"],
               what="the second push to replace the first")  # fmt: skip

    # shown twice, counted once: `delivered` went from the worker to the engine's API, cross-origin
    eventually(lambda: stats(app, campaign_id)["delivered"] == 1, what="delivered to be counted")
    time.sleep(0.5)
    assert stats(app, campaign_id)["delivered"] == 1

    # a tap on the "buy" button, through the worker's own click handler
    result = browser.worker().evaluate("""async () => {
        const [n] = await self.registration.getNotifications();
        return self.pushEngine.handleClick(n, "buy");
    }""")
    assert result["url"] == "https://shop.example.com/cart"  # the button's url, not the message's
    assert result["reported"] == {"opened": True, "clicked": True, "action_id": "buy"}
    after = stats(app, campaign_id)
    assert (after["opened"], after["clicked"], after["clicked_actions"]) == (1, 1, {"buy": 1})
    assert browser.notifications() == []  # a tapped notification closes


def test_data_only_message_reaches_the_page_and_shows_nothing(
    browser: Browser, site: str, stack: Any, standins: Standins, app: AppKeys, subscription: dict[str, Any]
) -> None:
    campaign_id = campaign(app, {"content_available": True, "data": {"cart": "refresh", "items": 3}})
    drain(stack)
    payload = pushed(standins, subscription, campaign_id)
    assert payload == {"data_only": True, "data": {"cart": "refresh", "items": 3}, "campaign_id": campaign_id}
    before = browser.notifications()
    browser.deliver(site, payload)
    got = eventually(lambda: browser.page.evaluate("window.pushData"), what="the page to get the data")
    assert got == [{"cart": "refresh", "items": 3}]
    assert browser.page.locator("#messages li").inner_text() == '{"cart":"refresh","items":3}'
    assert browser.notifications() == before
    assert stats(app, campaign_id)["delivered"] == 0  # nothing was shown


def test_a_subscription_on_apples_push_service_gets_the_declarative_message_the_worker_shows(
    browser: Browser, site: str, stack: Any, standins: Standins, app: AppKeys
) -> None:
    # the page's device, as Safari subscribes it: on web.push.apple.com (through the allow-list), played by
    # the stand-in; its worker reports as that device
    page = browser.page
    device_id = page.evaluate("window.push.subscribe().then((device) => device.device_id)")
    apple = standins.webpush.new_subscription(app.vapid_public_key, origin=f"https://{APPLE_WEB_PUSH_HOST}")
    device = {k: v for k, v in app.server.get(f"/v1/devices/{device_id}").json().items() if k in DEVICE_BODY}
    assert app.server.put(f"/v1/devices/{device_id}", {**device, "subscription": apple}).status_code == 200
    other = standins.webpush.new_subscription(app.vapid_public_key)  # another browser's, on another service
    assert app.server.put("/v1/devices/chrome-1", {**device, "subscription": other}).status_code == 201
    try:
        campaign_id = campaign(app, {
            "title": "Flash sale", "body": "40% off today", "url": "https://shop.example.com/sale",
            "localizations": {"de": {"title": "Blitzangebot", "body": "Heute 40 % Rabatt"}},
            "badge": 2, "data": {"sku": "A-1"}, "web": {"icon": "https://cdn.example.com/icon.png"},
        })  # fmt: skip
        drain(stack)
        (received,) = standins.webpush.received_for(apple)  # decrypted as Safari would (aes128gcm)
        assert received.claims["aud"] == f"https://{APPLE_WEB_PUSH_HOST}"  # signed for Apple's service
        assert received.payload == {"web_push": 8030, "notification": {
            "title": "Blitzangebot", "body": "Heute 40 % Rabatt", "navigate": "https://shop.example.com/sale",
            "lang": "de", "dir": "ltr", "app_badge": 2, "icon": "https://cdn.example.com/icon.png",
            "tag": collapse_id(campaign_id), "data": {"campaign_id": campaign_id, "data": {"sku": "A-1"}},
            "mutable": True}}  # fmt: skip
        # the other browsers' subscription got the engine's own shape for the same campaign
        assert pushed(standins, other, campaign_id)["title"] == "Blitzangebot"

        # a browser whose service worker exists gets this JSON in its push event: the worker shows it
        before = browser.notifications()
        browser.deliver(site, received.payload)
        shown = eventually(lambda: [n for n in browser.notifications() if n["tag"] == collapse_id(campaign_id)],
                           what="the declarative message to be shown")  # fmt: skip
        assert len(browser.notifications()) == len(before) + 1
        (note,) = shown
        assert (note["title"], note["body"]) == ("Blitzangebot", "Heute 40 % Rabatt")
        assert note["icon"] == "https://cdn.example.com/icon.png"
        assert note["data"]["url"] == "https://shop.example.com/sale" and note["data"]["data"] == {"sku": "A-1"}
        assert note["data"]["campaign_id"] == campaign_id
        lang = browser.page.evaluate("""async (tag) => {
            const [n] = (await (await navigator.serviceWorker.ready).getNotifications({tag}));
            return [n.lang, n.dir];
        }""", collapse_id(campaign_id))  # fmt: skip
        assert lang == ["de", "ltr"]
        eventually(lambda: stats(app, campaign_id)["delivered"] == 1, what="delivered to be counted")

        # a tap opens `navigate` and reports `opened`
        result = browser.worker().evaluate("""async (tag) => {
            const [n] = await self.registration.getNotifications({tag});
            return self.pushEngine.handleClick(n, "");
        }""", collapse_id(campaign_id))  # fmt: skip
        assert result["url"] == "https://shop.example.com/sale" and result["reported"]["opened"] is True
        assert stats(app, campaign_id)["opened"] == 1
        assert browser.notifications() == before
    finally:
        page.evaluate("window.push.refresh()")  # the page's own subscription again
        app.server.delete("/v1/devices/chrome-1")


def test_refresh_on_page_load_keeps_the_devices_region_and_location(
    browser: Browser, app: AppKeys, subscription: dict[str, Any]
) -> None:
    device_id = browser.page.evaluate("window.push.deviceId")
    path = f"/v1/devices/{device_id}"
    # the page may name them itself (a coarse location the site chose to ask for)
    browser.page.evaluate("window.push.refresh({region: 'DE-BE', location: {lat: 52.52, lon: 13.4}})")
    device = app.server.get(path).json()
    assert (device["region"], device["country"]) == ("DE-BE", "DE")
    assert device["location"] == {"lat": 52.52, "lon": 13.4}

    # or the app's backend sets them (server key); the next page load re-registers without them
    current = {k: device[k] for k in ("timezone", "locale", "tags", "attributes", "opted_in")}
    body = {**current, "platform": "web", "subscription": subscription, "region": "DE-HH",
            "location": {"lat": 53.55, "lon": 10.0}}  # fmt: skip
    assert app.server.put(path, body).status_code == 200
    browser.page.evaluate("window.push.refresh()")
    device = app.server.get(path).json()
    assert (device["region"], device["country"]) == ("DE-HH", "DE")
    assert device["location"] == {"lat": 53.55, "lon": 10.0}
    assert device["timezone"] == "Europe/Berlin"  # refreshed from the browser, as before


def test_renewed_subscription_is_registered_and_unsubscribe_removes_the_device(
    browser: Browser, standins: Standins, app: AppKeys
) -> None:
    device_id = browser.page.evaluate("window.push.deviceId")
    browser.page.evaluate("window.push.refresh({tags: {plan: 'pro'}})")  # the page tags its device
    assert app.server.get(f"/v1/devices/{device_id}").json()["tags"] == {"plan": "pro"}
    renewed = standins.webpush.new_subscription(app.vapid_public_key)
    # what the worker does on pushsubscriptionchange, with the browser's new subscription
    browser.worker().evaluate(
        "(sub) => self.pushEngine.handleSubscriptionChange({newSubscription: sub})", renewed
    )
    device = app.server.get(f"/v1/devices/{device_id}").json()
    assert device["subscription"]["endpoint"] == renewed["endpoint"]
    assert device["tags"] == {"plan": "pro"} and device["timezone"] == "Europe/Berlin"  # kept, not replaced

    browser.page.locator("#unsubscribe").click()
    browser.page.wait_for_function("document.getElementById('status').textContent === 'Unsubscribed.'")
    assert app.server.get(f"/v1/devices/{device_id}").status_code == 404


def primed_page(browser: Browser, site: str, stack: Any, standins: Standins, name: str) -> tuple[Any, AppKeys]:
    """The demo page with its soft prompt (?prime=sale), for an app of its own, in a fresh context where the
    browser has not been asked yet (Notification.permission "default")."""
    keys = new_app(Api(stack.api_url), standins, name)
    context = browser.chromium.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    context.add_init_script(stand_in_push_manager(standins.webpush.new_subscription(keys.vapid_public_key)))
    page = context.new_page()
    page.goto(f"{site}/demo.html?api={stack.api_url}&key={keys.client.key}&vapid={keys.vapid_public_key}&prime=sale")
    assert page.evaluate("Notification.permission") == "default"
    return page, keys


def opt_in(keys: AppKeys) -> dict[str, Any]:
    r = keys.server.get(f"/v1/apps/{keys.app_id}/opt-in")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_soft_prompt_asks_first_and_allow_subscribes_and_counts_accepted(
    browser: Browser, site: str, stack: Any, standins: Standins
) -> None:
    page, keys = primed_page(browser, site, stack, standins, "priming")
    dialog = page.get_by_role("dialog", name="Stay in the loop")
    dialog.wait_for(timeout=15_000)
    assert dialog.get_attribute("aria-modal") == "true"
    assert "sales and back-in-stock" in dialog.inner_text()
    allow, later = dialog.get_by_role("button", name="Allow"), dialog.get_by_role("button", name="Not now")
    # keyboard alone: focus starts on Allow, Tab and Shift+Tab stay on the dialog's two buttons
    assert allow.evaluate("(b) => b === document.activeElement")
    page.keyboard.press("Tab")
    assert later.evaluate("(b) => b === document.activeElement")
    page.keyboard.press("Shift+Tab")
    assert allow.evaluate("(b) => b === document.activeElement")
    eventually(lambda: opt_in(keys)["prompted"] == 1, what="prompted to be counted")
    assert page.evaluate("window.push.api.deviceSecret") is None  # nothing subscribed before the answer

    page.context.grant_permissions(["notifications"], origin=site)  # what the person says to the browser next
    page.keyboard.press("Enter")  # "Allow", by keyboard
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Subscribed')")
    assert dialog.count() == 0
    device_id = page.evaluate("window.push.deviceId")
    assert keys.server.get(f"/v1/devices/{device_id}").json()["platform"] == "web"
    counts = eventually(lambda: (c := opt_in(keys))["accepted"] == 1 and c, what="accepted to be counted")
    assert (counts["prompted"], counts["accepted"], counts["declined"]) == (1, 1, 0)
    assert counts["accept_rate"] == 1.0 and counts["variants"]["sale"]["accepted"] == 1
    (bucket,) = counts["buckets"]
    assert (bucket["prompted"], bucket["accepted"]) == (1, 1) and bucket["start"].endswith("T00:00:00Z")
    page.context.close()


def test_not_now_is_counted_and_the_prompt_waits_before_asking_again(
    browser: Browser, site: str, stack: Any, standins: Standins
) -> None:
    page, keys = primed_page(browser, site, stack, standins, "priming-later")
    page.get_by_role("dialog").wait_for(timeout=15_000)
    page.keyboard.press("Escape")  # "Not now"
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Not now')")
    counts = eventually(lambda: (c := opt_in(keys))["declined"] == 1 and c, what="declined to be counted")
    assert (counts["prompted"], counts["accepted"], counts["declined"]) == (1, 0, 1)
    assert (counts["accept_rate"], counts["decline_rate"]) == (0.0, 1.0)
    declined_at = int(page.evaluate("localStorage.getItem('pushengine.prompt_declined_at')"))

    page.reload()  # the next visit: not asked again within the snooze
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Not now')")
    assert page.get_by_role("dialog").count() == 0
    # once the snooze is over (the decline stored 8 days earlier), it asks again
    page.evaluate("(at) => localStorage.setItem('pushengine.prompt_declined_at', String(at))", declined_at - 8 * 86_400_000)
    page.reload()
    page.get_by_role("dialog").wait_for(timeout=15_000)
    eventually(lambda: opt_in(keys)["prompted"] == 2, what="the second prompt to be counted")
    page.context.close()


def test_opt_in_reports_count_once_and_are_checked(stack: Any, standins: Standins) -> None:
    keys = new_app(Api(stack.api_url), standins, "priming-api", providers=False)
    report = {"outcome": "prompted", "prompt_id": "7f0c2a4e-1b9d-4c55-9e62-0d3f1b8a6c11"}
    first = keys.client.post("/v1/events/opt-in", report)
    assert first.status_code == 202 and first.json() == {"accepted": True, "counted": True}
    again = keys.client.post("/v1/events/opt-in", report)  # the SDK's retry of the same report
    assert again.status_code == 202 and again.json()["counted"] is False
    assert opt_in(keys)["prompted"] == 1
    bad = keys.client.post("/v1/events/opt-in", {**report, "outcome": "maybe"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "body.outcome"
    week = keys.server.get(f"/v1/apps/{keys.app_id}/opt-in?granularity=week")
    assert week.status_code == 400 and "granularity" in week.text
    assert keys.client.get(f"/v1/apps/{keys.app_id}/opt-in").status_code == 403  # a client key reads nothing
    other = new_app(Api(stack.api_url), standins, "priming-other", providers=False)
    assert other.server.get(f"/v1/apps/{keys.app_id}/opt-in").status_code == 403  # nor another app's key
