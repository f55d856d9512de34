"""API docs function: the OpenAPI 3.1 document and Swagger UI for every route of every function."""

from aws_lambda_powertools.event_handler import Response, content_types

from pushengine.http import SECURITY, api_handler, openapi_document
from pushengine.routes import (
    analytics,
    audit,
    campaigns,
    console_users,
    devices,
    events,
    imports,
    journeys,
    keys,
    lifecycle,
    live_activities,
    messages,
    segments,
    settings,
    templates,
    trust,
    users,
)

TITLE, VERSION = "Push campaign engine", "1.0.0"
# every router of every API function (tests/e2e/test_api_edge.py checks them all through this list)
ROUTERS = (
    devices.router,
    audit.router,
    console_users.router,
    campaigns.router,
    events.router,
    segments.router,
    users.router,
    analytics.router,
    keys.router,
    lifecycle.router,
    templates.router,
    messages.router,
    imports.router,
    settings.router,
    trust.router,
    journeys.router,
    live_activities.router,
)
app, lambda_handler = api_handler(*ROUTERS, public=("GET /v1/openapi.json", "GET /v1/docs"))
app.enable_swagger(path="/v1/docs", title=TITLE, version=VERSION, security_schemes=SECURITY)


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi() -> Response[dict]:
    return Response(200, content_types.APPLICATION_JSON, openapi_document(app, title=TITLE, version=VERSION))
