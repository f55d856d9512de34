"""Settings from the environment, validated once per container (cold start): the composition root
(pushengine.bootstrap) reads them once per function and hands them down; nothing below it calls `settings()`."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field


class Settings(BaseModel):
    apps_table: str = "apps"
    devices_table: str = "devices"
    zones_table: str = "zones"
    campaigns_table: str = "campaigns"
    delivery_state_table: str = "checkpoints"
    audience_table: str = "audience"
    analytics_table: str = ""  # the time series; empty: not kept (unit tests of other parts)
    event_export: str = ""  # firehose:<stream> | eventbridge:<bus> | s3:<bucket> | empty: off
    idempotency_table: str = "idempotency"
    data_bucket: str = ""
    import_bucket: str = ""  # the only bucket `POST /v1/devices/import {"s3_uri"}` reads
    event_export_bucket: str = ""  # where the event export lands (firehose, s3): an erasure rewrites it
    jobs_queue_url: str = ""
    automation_table: str = "automation"
    audience_queue_url: str = ""
    send_queue_url: str = ""
    send_dlq_url: str = ""  # an erasure rewrites the dead-lettered send batches that hold the user
    audience_dlq_url: str = ""  # ... and drops the dead-lettered triggered sends of the user's devices
    schedule_group: str = "default"
    scheduler_role_arn: str = ""
    segment_query_function_arn: str = ""
    secrets_prefix: str = "push-engine"
    admin_key_hash: str = ""
    aws_region: str = "us-east-1"
    # The console's Cognito user pool and app client (ID tokens' issuer and audience); empty: no console users.
    console_user_pool_id: str = ""
    console_client_id: str = ""
    audit_table: str = ""  # the audit log; empty: not kept (unit tests of other parts)
    shard_count: int = Field(default=16, ge=1, le=1024)
    send_batch_size: int = Field(default=500, ge=1, le=1000)
    # The queues' MaximumMessageSize and maxReceiveCount, set once in the template: a send batch is split
    # to fit the one, and the last receive of the other accounts for what would otherwise dead-letter.
    max_message_bytes: int = Field(default=262_144, ge=1024, le=1_048_576)
    max_receive_count: int = Field(default=5, ge=1)
    webpush_allowed_hosts: str = ""
    # the hosts journey webhooks may call (OutboundAllowedHosts); empty: webpush_allowed_hosts, as before it
    outbound_allowed_hosts: str = ""
    # Local runs and tests only: "host=127.0.0.1:port,..." connects a push service's requests to a stand-in
    # (like curl --connect-to); the URL, its allow-list check, Host and the VAPID audience stay the endpoint's.
    webpush_connect_to: str = ""
    apns_endpoint: str = ""
    fcm_endpoint: str = "https://fcm.googleapis.com"
    # Segment query: pages read per invocation before it hands its continuation back to the queue.
    audience_page_size: int = Field(default=500, ge=1, le=1000)
    audience_pages_per_task: int = Field(default=20, ge=1)
    # Sender: requests in flight per batch and retries inside one invocation before SQS redelivery.
    send_concurrency: int = Field(default=200, ge=1)
    send_attempts: int = Field(default=3, ge=1)
    max_inline_retry_wait: float = Field(default=5.0, ge=0)
    # A batch whose place in its provider quota is further off than this is queued again to come back
    # then (SQS holds it for free) rather than holding an invocation asleep (billed by the GB-second).
    quota_inline_wait: float = Field(default=1.0, ge=0)
    # A paced batch sends the slots falling this soon after its delivery starts, then is queued again for
    # the rest (its slots kept): 500 devices at 4 a second outlast the sender's 60-second timeout.
    paced_window_seconds: float = Field(default=30.0, gt=0)
    # A batch whose sends failed without Retry-After comes back after this, doubling per receive.
    redelivery_backoff_seconds: float = Field(default=5.0, gt=0)
    # A batch checkpoints after this many results, but not more often than every checkpoint_seconds:
    # a batch that finishes quickly writes no checkpoint at all (a crash then repeats it, invisibly).
    # A batch of 500 at 200 in flight takes about a second on Lambda, so only a slow provider's batch
    # checkpoints; a crash repeats at most this long of sends, which replace themselves on the device.
    checkpoint_every: int = Field(default=100, ge=1)
    checkpoint_seconds: float = Field(default=5.0, ge=0)
    # An app item (keys, credentials, settings) is re-read at most this stale by each container; work that
    # must see a change everywhere (the date attribute index job) waits this long first.
    apps_cache_seconds: float = Field(default=30.0, ge=1, le=300)
    # Journey timers are spread over this many partitions of the automation table (README "Journeys").
    journey_timer_shards: int = Field(default=16, ge=1, le=1024)

    @property
    def allowed_webpush_hosts(self) -> list[str]:
        from pushengine.webpush_keys import parse_allowed_hosts

        return parse_allowed_hosts(self.webpush_allowed_hosts)

    @property
    def allowed_outbound_hosts(self) -> list[str]:
        """The webhook allow-list (pushengine.outbound.outbound_hosts)."""
        from pushengine.outbound import outbound_hosts

        return outbound_hosts(self.outbound_allowed_hosts, self.allowed_webpush_hosts)

    @property
    def webpush_connections(self) -> dict[str, str]:
        """webpush_connect_to as {push service host: "127.0.0.1:port"}."""
        pairs = (entry.split("=", 1) for entry in self.webpush_connect_to.split(",") if "=" in entry)
        return {host.strip().lower(): to.strip() for host, to in pairs}

    @classmethod
    def from_env(cls) -> Settings:
        values = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        return cls.model_validate(values)


def settings() -> Settings:
    """The environment's settings, read now (the root keeps what it read: `pushengine.bootstrap.reset()`)."""
    return Settings.from_env()
