"""What a Python user would write instead, pointed at the same stand-ins, used the way their docs show.

Where a peer hard-codes Google's or Apple's address, only the address is redirected to the stand-in;
pool sizes, concurrency and per-call work are the library's own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from bench.engine import CAMPAIGN_ID, FIRST_NAMES, Measurement
from bench.setup import VAPID_SUBJECT, Fixture
from pushengine.webpush_keys import b64url_decode

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
BODY = "Three new arrivals we think you will like. Tap to see them before they are gone."
TTL = 86400


def payload(i: int) -> dict[str, Any]:
    """The same notification the engine sends, personalised with plain Python instead of Liquid."""
    title = f"{FIRST_NAMES[i % len(FIRST_NAMES)] or 'there'}, your picks are ready"
    return {"title": title, "body": BODY, "url": "https://shop.example.com/picks?utm_campaign=weekly",
            "data": {"kind": "picks", "week": 47}, "campaign_id": CAMPAIGN_ID, "tag": "bench"}  # fmt: skip


def _measure(name: str, fixture: Fixture, n: int, send: Callable[[int], Counter[str]]) -> Measurement:
    standin_cpu = fixture.standin.cpu_seconds()
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = send(n)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    busy = (fixture.standin.cpu_seconds() - standin_cpu) / wall
    return Measurement(name, n, wall, cpu, dict(outcomes), standin_busy=busy)


async def _measure_async(
    name: str, fixture: Fixture, n: int, send: Callable[[int], Awaitable[Counter[str]]]
) -> Measurement:
    standin_cpu = fixture.standin.cpu_seconds()
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = await send(n)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    busy = (fixture.standin.cpu_seconds() - standin_cpu) / wall
    return Measurement(name, n, wall, cpu, dict(outcomes), standin_busy=busy)


def pywebpush_sequential(fixture: Fixture, n: int) -> Measurement:
    """(a) README style: one `webpush()` call per subscription, one after another (with a Session)."""
    import requests
    from py_vapid import Vapid
    from pywebpush import WebPushException, webpush

    vapid = Vapid.from_pem(fixture.secret["private_key"].encode())
    claims: dict[str, str | int] = {"sub": VAPID_SUBJECT}
    session = requests.Session()  # documented option; without it every call opens a new connection

    def send(count: int) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for i in range(count):
            try:
                webpush(fixture.targets[i % len(fixture.targets)], json.dumps(payload(i)), vapid_private_key=vapid,
                        vapid_claims=claims, ttl=TTL, requests_session=session)  # fmt: skip
                outcomes["sent"] += 1
            except WebPushException:
                outcomes["failed"] += 1
        return outcomes

    send(min(20, n))  # warm the connection
    result = _measure("pywebpush webpush() loop", fixture, n, send)
    session.close()
    return result


def pywebpush_aiohttp(fixture: Fixture, n: int, in_flight: int = 100) -> Measurement:
    """(b) `webpush_async` sharing one aiohttp ClientSession, `in_flight` requests at a time."""
    import aiohttp
    from py_vapid import Vapid
    from pywebpush import WebPushException, webpush_async

    vapid = Vapid.from_pem(fixture.secret["private_key"].encode())
    claims: dict[str, str | int] = {"sub": VAPID_SUBJECT}

    async def send_all(session: aiohttp.ClientSession, count: int) -> Counter[str]:
        gate = asyncio.Semaphore(in_flight)
        outcomes: Counter[str] = Counter()

        async def one(i: int) -> None:
            async with gate:
                try:
                    await webpush_async(fixture.targets[i % len(fixture.targets)], json.dumps(payload(i)),
                                        vapid_private_key=vapid, vapid_claims=claims, ttl=TTL,
                                        aiohttp_session=session)  # fmt: skip
                    outcomes["sent"] += 1
                except WebPushException:
                    outcomes["failed"] += 1

        await asyncio.gather(*(one(i) for i in range(count)))
        return outcomes

    async def main() -> Measurement:
        async with aiohttp.ClientSession() as session:  # its default pool: 100 connections
            await send_all(session, min(250, n))  # warm the pool
            name = f"pywebpush webpush_async, aiohttp, {in_flight} in flight"
            return await _measure_async(name, fixture, n, lambda count: send_all(session, count))

    return asyncio.run(main())


def encryption_ceiling(fixture: Fixture, n: int) -> Measurement:
    """(e) RFC 8291 aes128gcm alone (fresh ECDH key per message, as the protocol requires), no network."""
    import http_ece

    keys = [(b64url_decode(s["keys"]["p256dh"]), b64url_decode(s["keys"]["auth"])) for s in fixture.targets]
    plaintext = json.dumps(payload(0), separators=(",", ":")).encode()

    def send(count: int) -> Counter[str]:
        for i in range(count):
            p256dh, auth = keys[i % len(keys)]
            http_ece.encrypt(plaintext, private_key=ec.generate_private_key(ec.SECP256R1()), dh=p256dh,
                             auth_secret=auth, version="aes128gcm")  # fmt: skip
        return Counter(encrypted=count)

    return _measure("http_ece encryption only (ceiling)", fixture, n, send)


def engine_encryption(fixture: Fixture, n: int) -> Measurement:
    """The engine's own RFC 8291 encryption alone (WebPushProvider.encrypt), for scale: not a peer."""
    from pushengine.providers.webpush import WebPushProvider

    provider = WebPushProvider(fixture.secret["private_key"], VAPID_SUBJECT)
    keys = [(b64url_decode(s["keys"]["p256dh"]), b64url_decode(s["keys"]["auth"])) for s in fixture.targets]
    plaintext = json.dumps(payload(0), separators=(",", ":")).encode()

    def send(count: int) -> Counter[str]:
        for i in range(count):
            p256dh, auth = keys[i % len(keys)]
            provider.encrypt(plaintext, p256dh, auth)
        return Counter(encrypted=count)

    return _measure("engine's RFC 8291 encryption only (for scale)", fixture, n, send)


def firebase_send_each(fixture: Fixture, n: int, batch: int = 500) -> Measurement:
    """(c) firebase-admin `messaging.send_each`, 500 messages per call, as its docs suggest."""
    import firebase_admin
    import requests
    from firebase_admin import credentials, messaging
    from google.oauth2 import service_account

    # google-auth always signs aud=https://oauth2.googleapis.com/token (what Google documents); the stand-in
    # wants its own token_uri there, so the audience string is redirected like every other address
    service_account._GOOGLE_OAUTH2_TOKEN_ENDPOINT = fixture.secret["token_uri"]
    # Google grants FCM sends to cloud-platform (firebase-admin's scope); the stand-in only to firebase.messaging
    if FCM_SCOPE not in credentials._scopes:
        credentials._scopes.append(FCM_SCOPE)

    app = firebase_admin.initialize_app(
        credentials.Certificate(fixture.secret), name=f"bench-{time.time_ns()}"
    )
    try:
        service = messaging._get_messaging_service(app)
        # keep traffic on loopback: google-auth would look up a regional access boundary at iamcredentials
        app.credential.get_credential()._is_regional_access_boundary_lookup_required = lambda: False
        base = fixture.standin.base_url
        # only the address changes: firebase-admin hard-codes fcm.googleapis.com and mounts its 100-connection
        # adapter on that prefix; the OAuth token_uri comes from the service account (google-auth honours it)
        service._fcm_url = f"{base}/v1/projects/{fixture.secret['project_id']}/messages:send"
        adapter = requests.adapters.HTTPAdapter(pool_connections=100, pool_maxsize=100)
        service._client.session.mount(base, adapter)

        def message(i: int) -> messaging.Message:
            p = payload(i)
            return messaging.Message(
                token=fixture.targets[i % len(fixture.targets)],
                notification=messaging.Notification(title=p["title"], body=p["body"]),
                data={"campaign_id": CAMPAIGN_ID, "url": p["url"], "kind": "picks", "week": "47"},
                # priority left at its default (normal): firebase-admin spells it "normal", which Google
                # accepts and the stand-in's enum check refuses
                android=messaging.AndroidConfig(collapse_key="bench", ttl=TTL),
            )

        def send(count: int) -> Counter[str]:
            outcomes: Counter[str] = Counter()
            for start in range(0, count, batch):
                answer = messaging.send_each(
                    [message(i) for i in range(start, min(count, start + batch))], app=app
                )
                outcomes["sent"] += answer.success_count
                outcomes["failed"] += answer.failure_count
            return outcomes

        send(min(batch, n))  # token grant and connections
        return _measure(f"firebase-admin send_each ({batch} per call)", fixture, n, send)
    finally:
        firebase_admin.delete_app(app)


def aioapns_send(fixture: Fixture, n: int, in_flight: int = 200) -> Measurement:
    """(d) aioapns with token auth; its TLS-only connection is redirected to the stand-in's h2c port."""
    from aioapns import NotificationRequest, PushType

    from bench.transports import aioapns_client

    async def main() -> Measurement:
        client = aioapns_client(fixture)

        async def send_all(count: int) -> Counter[str]:
            gate = asyncio.Semaphore(in_flight)
            outcomes: Counter[str] = Counter()

            async def one(i: int) -> None:
                p = payload(i)
                request = NotificationRequest(
                    device_token=fixture.targets[i % len(fixture.targets)],
                    message={"aps": {"alert": {"title": p["title"], "body": p["body"]}},
                             "campaign_id": CAMPAIGN_ID, "url": p["url"], "data": p["data"]},
                    collapse_key="bench", time_to_live=TTL, priority=5, push_type=PushType.ALERT,
                )  # fmt: skip
                async with gate:
                    result = await client.send_notification(request)
                outcomes["sent" if result.is_successful else "failed"] += 1

            await asyncio.gather(*(one(i) for i in range(count)))
            return outcomes

        try:
            await send_all(min(250, n))
            return await _measure_async(f"aioapns, {in_flight} in flight", fixture, n, send_all)
        finally:
            client.pool.close()

    return asyncio.run(main())
