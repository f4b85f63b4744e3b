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


def test_operations_are_grouped_by_subject_and_the_docs_link_the_error_catalogue(db):
    document = schema()
    groups = [tag["name"] for tag in document["tags"]]
    assert {"Voices", "Tasks", "Batches", "OpenAI compatible", "GPT-SoVITS compatible"} <= set(groups)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert len(operation["tags"]) == 1, (path, method)
            assert operation["tags"][0] not in ("api", "v1"), f"{path} has no group: add it to sovits_site.openapi.TAGS"
    assert document["paths"]["/api/v1/tasks/{task_id}/cancel"]["post"]["tags"] == ["Tasks"]
    assert document["paths"]["/v1/models"]["get"]["tags"] == ["OpenAI compatible"]
    assert document["paths"]["/tts"]["get"]["tags"] == ["GPT-SoVITS compatible"]
    assert "(/api/errors)" in document["info"]["description"]
    assert document["externalDocs"]["url"] == "/api/errors"


def test_the_server_serves_the_error_catalogue_without_credentials(db):
    from sovits_site.errors import CATALOGUE

    response = APIClient().get("/api/errors")
    assert response.status_code == 200
    body = response.json()
    codes = {entry["code"]: entry for entry in body["results"]}
    assert set(codes) == set(CATALOGUE)
    assert body["count"] == len(CATALOGUE)
    assert codes["TASK_CANCELLED"] | {"when": ""} == {"code": "TASK_CANCELLED", "status": 409, "category": "CLIENT",
                                                      "retryable": False, "when": "",
                                                      "message": "The task was cancelled and has no audio"}  # fmt: skip
    assert all(entry["when"] for entry in codes.values())  # each with docs/errors.md's explanation
