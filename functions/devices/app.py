"""Devices function (HTTP API): routes in pushengine.routes.devices and pushengine.routes.users."""

from pushengine.http import api_handler
from pushengine.routes import devices, settings, users

app, lambda_handler = api_handler(devices.router, users.router, settings.router)
