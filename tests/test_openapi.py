from __future__ import annotations

import yaml
from django.urls import get_resolver
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from tests.test_isolation import _api_routes


def schema() -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_validates_as_openapi_3(db):
    document = schema()
    assert document["openapi"].startswith("3.")
    validate(document)  # raises on any violation


def test_every_api_route_is_described_with_the_error_envelope(db):
    document = schema()
    described = set(document["paths"])
    for route, _ in _api_routes(get_resolver()):
        path = "/" + route.replace("<uuid:", "{").replace("<str:", "{").replace(">", "}")
        assert path in described, path
    assert {"/tts", "/v1/audio/speech"} <= described
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert "QUOTA_EXCEEDED" in envelope["properties"]["error"]["properties"]["code"]["enum"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"
            }, (path, method)
    assert set(document["components"]["securitySchemes"]) == {"ApiKey", "JWT", "Session"}


def test_the_docs_page_renders_offline(db):
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    assert b"/static/drf_spectacular_sidecar/" in page.content  # served locally, no CDN
