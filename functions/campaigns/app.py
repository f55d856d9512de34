"""Campaigns function (HTTP API): routes in pushengine.routes.campaigns."""

from pushengine.http import api_handler
from pushengine.routes.campaigns import router

app, lambda_handler = api_handler(router)
