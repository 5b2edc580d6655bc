"""The one NinjaAPI: mounts each app's router; every error is a problem document."""

from ninja import NinjaAPI

api = NinjaAPI(
    title="Shopboard API",
    version="1.0.0",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

api.add_router("/", "integrations.beacons.api.router")  # POST /beacon-events
