"""Every `/v1` route declares the shape it answers with, so `/docs` shows it (a 204 declares no body)."""

import importlib
import pkgutil

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

import app.api.routes
from app.main import create_app


def v1_routes() -> list[APIRoute]:
    """The routes of every router module of the API (their prefixes are part of their paths)."""
    routes = []
    for info in pkgutil.iter_modules(app.api.routes.__path__):
        module = importlib.import_module(f"app.api.routes.{info.name}")
        routes += [r for r in module.router.routes if isinstance(r, APIRoute) and r.path.startswith("/v1")]
    return routes


def _declared(route: APIRoute) -> bool:
    model = route.response_model
    if isinstance(model, type) and issubclass(model, BaseModel):
        return True
    if isinstance(route.response_class, type) and issubclass(route.response_class, StreamingResponse):
        return True  # a file download (CSV) declares its class
    return route.status_code == 204 and route.response_class is Response


def test_every_v1_route_declares_a_response_model():
    routes = v1_routes()
    assert len(routes) >= 18
    assert {r.path for r in routes} <= set(create_app().openapi()["paths"])
    missing = [f"{sorted(r.methods)} {r.path}" for r in routes if not _declared(r)]
    assert not missing, f"/v1 routes without a response_model: {missing}"


def test_the_documented_shapes_are_the_models():
    schema = create_app().openapi()
    ok = schema["paths"]["/v1/campaigns/{campaign_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/CampaignDetail")
    assert "counts" in schema["components"]["schemas"]["CampaignDetail"]["properties"]
