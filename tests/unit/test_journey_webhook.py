"""The journey `webhook` step on fakes: its signature, its retry policy, and the engine's transitions around
the call (one call per attempt under redelivery, backoff on 5xx/429/timeouts, failed after the last
attempt or at once on a 4xx, on by `next` either way), and the URL policy at creation."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from pushengine.config import Settings
from pushengine.errors import InvalidInput
from pushengine.journeys import engine, service, webhook
from pushengine.journeys.model import JourneyIn
from pushengine.journeys.webhook import WebhookAnswer
from pushengine.webpush_keys import DEFAULT_WEBPUSH_HOSTS
from tests.fakes import FakeCampaigns, FakeDevices, FakeQueue
from tests.fakes_journeys import FakeJourneyStore
from tests.unit.test_journey_engine import APP, AQ, KEYS, SQ, T0, World

SECRET = "whsec_test"
HOOK = "https://hooks.example.com/journey"
WALL = 1_796_644_800  # the wall clock the signature's timestamp comes from (fixed: no test reads the time)


def hooked(url: str = HOOK, *, then: str = "thanks") -> dict[str, Any]:
    return {
        "name": "Welcome", "quiet_hours": "ignore", "entry": {"event": "signup"}, "first": "tell",
        "steps": {
            "tell": {"type": "webhook", "url": url, "next": then},
            "thanks": {"type": "send", "message": {"title": "Hi", "body": "Welcome"}, "next": "done"},
            "done": {"type": "exit"},
        },
    }  # fmt: skip


@dataclass
class FakeReceiver:
    """A webhook receiver answering `answers` in turn (then 200), recording every request."""

    answers: list[WebhookAnswer] = field(default_factory=list)
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        self.calls.append((url, body, dict(headers)))
        return self.answers.pop(0) if self.answers else WebhookAnswer(200)


@dataclass
class HookWorld(World):
    receiver: FakeReceiver = field(default_factory=FakeReceiver)
    secret: str | None = SECRET
    hosts: tuple[str, ...] = ("hooks.example.com",)
    outbound: tuple[str, ...] = ()  # OutboundAllowedHosts (empty: the Web Push list, `hosts`)

    @property
    def deps(self) -> engine.JourneyDeps:
        return engine.JourneyDeps(
            settings=Settings(audience_queue_url=AQ, send_queue_url=SQ, webpush_allowed_hosts=",".join(self.hosts),
                              outbound_allowed_hosts=",".join(self.outbound)),
            store=self.store, devices=self.devices, queue=self.queue, clock=lambda: self.now, timer_shards=4,
            queue_delay_max=0, webhooks=self.receiver, webhook_secret=lambda app_id: self.secret,
            wall_clock=lambda: float(WALL),
        )  # fmt: skip

    def api(self) -> service.JourneyApiDeps:
        return service.JourneyApiDeps(store=self.store, campaigns=self.campaigns, queue=self.queue,
                                      audience_queue_url=AQ, resolve_template=lambda app, t: {"title": "c", "body": "b"},
                                      outbound_hosts=self.deps.settings.allowed_outbound_hosts,
                                      webhook_secret=lambda app_id: self.secret)  # fmt: skip

    def create(self, body: dict[str, Any]) -> str:
        return service.create(self.api(), APP, JourneyIn.model_validate(body), now=self.now).journey_id


@pytest.fixture
def world() -> HookWorld:
    w = HookWorld(FakeJourneyStore(), FakeDevices(), FakeQueue(), FakeCampaigns(), T0)
    w.devices.register(APP, "a", platform="web", timezone="UTC", user_id="u-1",
                       subscription={"endpoint": "https://push.example/a", "keys": KEYS})  # fmt: skip
    return w


# ---------- signature and policy (pure) ----------
def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = webhook.body("jrn1", "dev1", "u-1", "tell")
    assert body == b'{"device_id":"dev1","journey_id":"jrn1","step":"tell","user_id":"u-1"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook.signature("s3cret", body, 1_700_000_000) == f"t=1700000000,v1={expected}"
    assert webhook.signature("other", body, 1_700_000_000) != webhook.signature("s3cret", body, 1_700_000_000)


@pytest.mark.parametrize(("answer", "attempt", "expected"), [
    (WebhookAnswer(200), 1, "sent"), (WebhookAnswer(204), 5, "sent"),
    (WebhookAnswer(500), 1, "retry"), (WebhookAnswer(503), 4, "retry"), (WebhookAnswer(429), 2, "retry"),
    (WebhookAnswer(None, error="timed out"), 1, "retry"),
    (WebhookAnswer(500), 5, "failed"), (WebhookAnswer(None, error="timed out"), 5, "failed"),
    (WebhookAnswer(400), 1, "failed"), (WebhookAnswer(404), 1, "failed"), (WebhookAnswer(410), 1, "failed"),
    (WebhookAnswer(301), 1, "failed"),  # a redirect is never followed
    (WebhookAnswer(None, error="no secret", refused=True), 1, "failed"),
])  # fmt: skip
def test_what_an_answer_means(answer: WebhookAnswer, attempt: int, expected: str) -> None:
    assert webhook.outcome(answer, attempt) == expected


@pytest.mark.parametrize(("answer", "attempt", "delay"), [
    (WebhookAnswer(500), 1, 10), (WebhookAnswer(500), 2, 60), (WebhookAnswer(500), 3, 300),
    (WebhookAnswer(500), 4, 900),
    (WebhookAnswer(429, retry_after=120), 1, 120),  # a longer Retry-After is honoured
    (WebhookAnswer(429, retry_after=1), 2, 60),  # a shorter one is not
    (WebhookAnswer(503, retry_after=86_400), 1, 900),  # capped to SQS's delay limit
])  # fmt: skip
def test_backoff_between_attempts(answer: WebhookAnswer, attempt: int, delay: float) -> None:
    assert webhook.retry_delay(answer, attempt) == delay


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.com/journey", "plain http is only allowed for a listed loopback host"),
    ("https://evil.example.net/x", "host evil.example.net is not on the outbound allow-list"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a private, link-local or reserved address"),
    ("https://10.0.0.7/hook", "10.0.0.7 is a private, link-local or reserved address"),
])  # fmt: skip
def test_a_webhook_url_outside_the_outbound_policy_is_a_400_naming_it(
    world: HookWorld, url: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        world.create(hooked(url))
    assert caught.value.field == "body.steps.tell.url"
    assert reason in str(caught.value)


def test_an_app_without_a_signing_secret_cannot_make_a_webhook_step(world: HookWorld) -> None:
    world.secret = None
    with pytest.raises(InvalidInput, match="no webhook signing secret") as caught:
        world.create(hooked())
    assert caught.value.field == "body.steps.tell.url"


# ---------- the engine around the call ----------
def test_the_call_is_signed_and_the_enrolment_moves_on_by_next(world: HookWorld) -> None:
    jid = world.create(hooked())
    world.event("a", "signup")
    assert world.receiver.calls == [] and world.where(jid, "a")["status"] == "webhook"
    world.advance(T0)  # its timer is due at once (on the queue)
    ((url, body, headers),) = world.receiver.calls
    assert url == HOOK
    assert json.loads(body) == {"journey_id": jid, "device_id": "a", "user_id": "u-1", "step": "tell"}
    assert headers["X-Push-Signature"] == webhook.signature(SECRET, body, WALL)
    assert headers["X-Push-Delivery"] == f"{jid}:a#tell#1.1"
    enrolment = world.where(jid, "a")
    assert (enrolment["state"], enrolment["step"]) == ("done", "done")
    assert "webhook" not in enrolment
    assert [b["campaign_id"] for b in world.sends()] == [f"{jid}--thanks--v1"]
    steps = world.stats(jid)["steps"]
    assert (steps["tell"]["entered"], steps["tell"]["sent"], steps["tell"]["failed"]) == (1, 1, 0)
    assert steps["thanks"]["entered"] == 1 and world.stats(jid)["completed"] == 1
    assert [e.get("step") or e.get("exit") for e in enrolment["path"]] == [
        "tell",
        "thanks",
        "done",
        "completed",
    ]
    assert world.store.timers() == []


def test_5xx_and_429_are_retried_with_backoff_under_one_delivery_id(world: HookWorld) -> None:
    world.receiver.answers = [WebhookAnswer(500), WebhookAnswer(429, retry_after=120)]
    jid = world.create(hooked())
    world.event("a", "signup")
    world.advance(T0)
    assert len(world.receiver.calls) == 1 and world.where(jid, "a")["webhook"]["attempt"] == 2
    (timer,) = world.store.timers()
    assert timer["due"] == engine.iso(T0 + timedelta(seconds=10))
    world.advance(T0 + timedelta(seconds=9))
    assert len(world.receiver.calls) == 1
    world.advance(T0 + timedelta(seconds=10))
    assert len(world.receiver.calls) == 2
    (timer,) = world.store.timers()
    assert timer["due"] == engine.iso(T0 + timedelta(seconds=130))  # Retry-After beat the 60 s backoff
    world.advance(T0 + timedelta(seconds=130))
    assert len(world.receiver.calls) == 3
    assert len({c[2]["X-Push-Delivery"] for c in world.receiver.calls}) == 1  # one id for every attempt
    steps = world.stats(jid)["steps"]
    assert (steps["tell"]["sent"], steps["tell"]["failed"], steps["tell"]["retried"]) == (1, 0, 2)
    assert world.where(jid, "a")["state"] == "done"


def test_the_last_attempt_fails_counted_and_moves_on(world: HookWorld) -> None:
    world.receiver.answers = [WebhookAnswer(None, error="timed out")] * webhook.ATTEMPTS
    jid = world.create(hooked())
    world.event("a", "signup")
    world.advance(T0)
    for seconds in (10, 70, 370, 1270):
        world.advance(T0 + timedelta(seconds=seconds))
    assert len(world.receiver.calls) == webhook.ATTEMPTS
    steps = world.stats(jid)["steps"]
    assert (steps["tell"]["sent"], steps["tell"]["failed"], steps["tell"]["retried"]) == (0, 1, 4)
    assert steps["thanks"]["sent"] == 1 and world.where(jid, "a")["state"] == "done"


def test_a_4xx_fails_at_once_and_moves_on(world: HookWorld) -> None:
    world.receiver.answers = [WebhookAnswer(404)]
    jid = world.create(hooked())
    world.event("a", "signup")
    world.advance(T0)
    assert len(world.receiver.calls) == 1
    steps = world.stats(jid)["steps"]
    assert (steps["tell"]["failed"], steps["tell"]["retried"], steps["thanks"]["sent"]) == (1, 0, 1)


def test_a_redelivered_timer_makes_no_second_call(world: HookWorld) -> None:
    jid = world.create(hooked())
    world.event("a", "signup")
    (message,) = world.queue.take(AQ)
    engine.handle(world.deps, message.body, lambda: 60_000)
    engine.handle(world.deps, message.body, lambda: 60_000)  # SQS brings it again
    assert len(world.receiver.calls) == 1 and world.stats(jid)["steps"]["tell"]["sent"] == 1


def test_a_copy_delivered_while_the_call_is_in_flight_makes_no_second_call(world: HookWorld) -> None:
    """SQS may hand the same message to two invocations at once: the claim before the call stops the second."""
    jid = world.create(hooked())
    world.event("a", "signup")
    (message,) = world.queue.take(AQ)
    answer = world.receiver.post

    def meanwhile_the_copy_arrives(url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
        if not world.receiver.calls:
            assert engine.handle(world.deps, message.body, lambda: 60_000) is None
        return answer(url, body, headers)

    world.receiver.post = meanwhile_the_copy_arrives  # type: ignore[method-assign]
    engine.handle(world.deps, message.body, lambda: 60_000)
    assert len(world.receiver.calls) == 1 and world.stats(jid)["steps"]["tell"]["sent"] == 1


def test_a_crash_after_the_call_repeats_it_under_the_same_delivery_id(world: HookWorld) -> None:
    jid = world.create(hooked())
    world.event("a", "signup")
    (message,) = world.queue.take(AQ)
    real = world.store.transition
    calls = {"n": 0}

    def crash_after_the_call(enrolment: Any, move: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:  # the claim went through; the function dies before the move on
            raise ConnectionError("the function died")
        return real(enrolment, move)

    world.store.transition = crash_after_the_call  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        engine.handle(world.deps, message.body, lambda: 60_000)
    world.store.transition = real  # type: ignore[method-assign]
    assert world.where(jid, "a")["status"] == "calling"
    world.advance(T0 + engine.RECOVERY)  # the claim's recovery timer calls again
    first, again = world.receiver.calls
    assert first[2]["X-Push-Delivery"] == again[2]["X-Push-Delivery"]  # the receiver drops the repeat
    assert world.stats(jid)["steps"]["tell"]["sent"] == 1 and world.where(jid, "a")["state"] == "done"


def test_no_call_without_a_secret_or_once_the_url_leaves_the_allow_list(world: HookWorld) -> None:
    jid = world.create(hooked())
    world.event("a", "signup")
    world.hosts = ("other.example.com",)  # the operator narrowed the allow-list meanwhile
    world.advance(T0)
    assert world.receiver.calls == [] and world.stats(jid)["steps"]["tell"]["failed"] == 1


@pytest.mark.parametrize(("outbound", "webpush", "expected"), [
    ("", "", list(DEFAULT_WEBPUSH_HOSTS)),
    ("", "push.example, hooks.example.com", ["push.example", "hooks.example.com"]),  # as before the new list
    ("Hooks.Example.com, *.crm.example", "push.example", ["hooks.example.com", "*.crm.example"]),
    (" , ", "push.example", ["push.example"]),  # blank is empty
])
def test_the_outbound_allow_list_falls_back_to_the_web_push_list(outbound: str, webpush: str,
                                                                 expected: list[str]) -> None:  # fmt: skip
    settings = Settings(outbound_allowed_hosts=outbound, webpush_allowed_hosts=webpush)
    assert settings.allowed_outbound_hosts == expected


def test_a_webhook_host_on_the_outbound_list_is_called_and_the_web_push_list_no_longer_counts(
    world: HookWorld,
) -> None:
    world.hosts, world.outbound = ("push.example",), ("hooks.example.com",)
    jid = world.create(hooked())
    world.event("a", "signup")
    world.advance(T0)
    assert len(world.receiver.calls) == 1 and world.stats(jid)["steps"]["tell"]["sent"] == 1
    # the operator moves the host off the outbound list; the Web Push list naming it is not consulted
    world.hosts, world.outbound = ("hooks.example.com",), ("other.example.com",)
    world.devices.register(APP, "b", platform="web", timezone="UTC",
                           subscription={"endpoint": "https://push.example/b", "keys": KEYS})  # fmt: skip
    world.event("b", "signup")
    world.advance(T0)
    assert len(world.receiver.calls) == 1 and world.stats(jid)["steps"]["tell"]["failed"] == 1


def test_pause_holds_the_call_and_resume_makes_it_once(world: HookWorld) -> None:
    jid = world.create(hooked())
    world.event("a", "signup")
    service.set_status(world.api(), APP, jid, "pause")
    world.advance(T0)
    assert world.receiver.calls == [] and world.store.held(APP, jid, 10)
    service.set_status(world.api(), APP, jid, "resume")
    world.advance(T0 + timedelta(minutes=1))
    world.advance(T0 + timedelta(minutes=2))
    assert len(world.receiver.calls) == 1 and world.where(jid, "a")["state"] == "done"
