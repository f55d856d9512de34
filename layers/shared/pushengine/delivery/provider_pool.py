"""The sender's pool of provider clients: one warm client per (app, push service), built from the app's
stored credentials, so JWTs, OAuth tokens and connections are reused across batches and invocations of the
same container, and APNs provider tokens shared by every container of a signing key (dal/provider_tokens.py);
and the quota lane each send takes."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from pushengine import pacing
from pushengine.channels import CHANNELS, by_service, channel_of
from pushengine.config import Settings
from pushengine.dal.apps import AppsRepository, SecretsStore
from pushengine.dal.provider_tokens import ProviderTokens
from pushengine.providers.base import PushProvider, SharedTokens

_RECHECK_SECONDS = 30.0  # credentials changed through the API are picked up within this

for _channel in CHANNELS.values():  # every adapter loads with the sender (Lambda's init), not on a first send
    importlib.import_module(_channel.adapter)


def build_provider(
    channel: str, secret: dict[str, Any], settings: Settings, tokens: SharedTokens | None = None
) -> PushProvider:
    """The client for one push service (`channel`: the credentials' name, "apns", "fcm", "webpush")."""
    return by_service(channel).provider(secret, settings, tokens)


class ProviderPool:
    def __init__(
        self, settings: Settings, apps: AppsRepository, secrets: SecretsStore, tokens: SharedTokens | None = None
    ) -> None:
        self._settings, self._apps, self._secrets = settings, apps, secrets
        self._tokens = tokens if tokens is not None else ProviderTokens(settings.delivery_state_table)
        self._by_version: dict[tuple[str, str, str], PushProvider] = {}
        self._recent: dict[tuple[str, str], tuple[float, PushProvider | None]] = {}
        self._meta: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    async def get(self, app_id: str, platform: str) -> PushProvider | None:
        """The app's client for this platform's channel, or None when the app has no credentials for it."""
        hit = self._recent.get((app_id, platform))
        if hit and time.monotonic() - hit[0] < _RECHECK_SECONDS:
            return hit[1]
        async with self._lock:  # one build per app and channel, however many sends ask at once
            hit = self._recent.get((app_id, platform))
            if hit and time.monotonic() - hit[0] < _RECHECK_SECONDS:
                return hit[1]
            provider = await asyncio.to_thread(self._resolve, app_id, channel_of(platform).service)
            self._recent[(app_id, platform)] = (time.monotonic(), provider)
            return provider

    def _resolve(self, app_id: str, channel: str) -> PushProvider | None:
        meta = ((self._apps.get(app_id) or {}).get("providers") or {}).get(channel)
        if not meta:
            return None
        self._meta[(app_id, channel)] = meta
        key = (app_id, channel, str(meta.get("updated_at", "")))
        if key not in self._by_version:
            secret = self._secrets.get(meta["secret_arn"], key[2])
            self._by_version[key] = build_provider(channel, secret, self._settings, self._tokens)
        return self._by_version[key]

    def lane(self, app_id: str, entry: dict[str, Any], *, transactional: bool) -> pacing.Lane | None:
        """The quota lane a device's send takes (after `get` resolved the app's credentials): its FCM
        project, APNs topic or Web Push origin, at the app's `quota_per_minute` or the provider's default."""
        channel = channel_of(entry["p"])
        meta = self._meta.get((app_id, channel.service))
        if not meta:
            return None
        quota = pacing.quota_of(channel.service, meta.get("quota_per_minute"))
        return pacing.lane_for(channel.quota_scope(app_id, meta, entry), quota, transactional)

    async def aclose(self) -> None:
        for provider in self._by_version.values():
            await provider.aclose()
        self._by_version.clear()
        self._recent.clear()
