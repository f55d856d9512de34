"""Adapters to the push services: APNs (HTTP/2, JWT), FCM HTTP v1 (OAuth2), Web Push (VAPID, aes128gcm)."""
