"""Campaigns function (HTTP API): routes in pushengine.routes.campaigns and pushengine.routes.segments."""

from pushengine.http import api_handler
from pushengine.routes import analytics, campaigns, segments

app, lambda_handler = api_handler(campaigns.router, segments.router, analytics.router)
