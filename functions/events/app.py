"""Events function (HTTP API): opens, clicks, conversions and revenue; routes in pushengine.routes.events."""

from pushengine.http import api_handler
from pushengine.routes.events import router

app, lambda_handler = api_handler(router)
