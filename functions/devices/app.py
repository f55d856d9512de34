"""Devices function (HTTP API): apps and their keys, providers, devices, users, the audit log, console
sign-in (routes in pushengine.routes)."""

from pushengine.http import api_handler
from pushengine.routes import audit, console_users, devices, imports, keys, settings, trust, users

app, lambda_handler = api_handler(
    imports.router, devices.router, keys.router, users.router, settings.router, trust.router, audit.router,
    console_users.router,
)
