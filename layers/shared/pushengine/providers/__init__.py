"""Adapters to the services the engine calls: APNs (HTTP/2, JWT), FCM HTTP v1 (OAuth2), Web Push (VAPID,
aes128gcm), and journey webhooks (signed POSTs)."""
