"""Campaigns function (HTTP API): campaigns, their lifecycle, saved segments, templates and direct sends,
journeys, Live Activities (routes in pushengine.routes)."""

from pushengine.http import api_handler
from pushengine.routes import (
    analytics,
    campaigns,
    journeys,
    lifecycle,
    live_activities,
    messages,
    segments,
    templates,
)

app, lambda_handler = api_handler(
    campaigns.router, lifecycle.router, segments.router, templates.router, messages.router, analytics.router,
    journeys.router, live_activities.router,
)
