"""API docs function: the OpenAPI 3.1 document and Swagger UI for every route of every function."""

from aws_lambda_powertools.event_handler import Response, content_types

from pushengine.http import api_handler
from pushengine.routes import campaigns, devices, events, segments, users

app, lambda_handler = api_handler(
    devices.router, campaigns.router, events.router, segments.router, users.router
)
app.enable_swagger(path="/v1/docs", title="Push campaign engine", version="1.0.0")


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(
        200, content_types.APPLICATION_JSON, app.get_openapi_json_schema(title="Push campaign engine")
    )
