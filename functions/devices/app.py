"""Devices function (HTTP API): routes in pushengine.routes.devices."""

from pushengine.http import api_handler
from pushengine.routes.devices import router

app, lambda_handler = api_handler(router)
