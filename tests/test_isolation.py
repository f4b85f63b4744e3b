"""Tenant A's credentials never reach tenant B's objects: every object route,
every method, answers 404 in the envelope, and B's rows never show in A's lists."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from synthesis.models import Task
from tenants.models import ApiKey

# Every API route that takes an object id: the methods it answers and the id it takes.
OBJECT_ROUTES = {
    "speaker-detail": (["get", "delete"], "speaker_id"),
    "speaker-audio": (["get"], "speaker_id"),
    "task-detail": (["get"], "task_id"),
    "task-audio": (["get"], "task_id"),
    "task-cancel": (["post"], "task_id"),
    "task-webhooks": (["get"], "task_id"),
    "task-stream": (["get"], "task_id"),
    "task-timestamps": (["get"], "task_id"),
    "task-subtitles": (["get"], "task_id"),
    "batch-detail": (["get"], "batch_id"),
    "key-revoke": (["post"], "key_id"),
    "subject-request-detail": (["get"], "request_id"),
    "model-detail": (["get", "delete"], "model_id"),
}
# Routes whose path parameter is itself the credential (a signed, expiring token).
CAPABILITY_ROUTES = {"result-download", "subject-export"}
LIST_ROUTES = {"speaker-list": "/api/v1/speakers", "task-list": "/api/v1/tasks", "key-list": "/api/v1/keys"}


def _api_routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    routes = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            routes += _api_routes(entry, prefix + str(entry.pattern))
        elif (prefix + str(entry.pattern)).startswith("api/v1/"):
            routes.append((prefix + str(entry.pattern), entry))
    return routes


def test_every_api_route_with_an_id_is_in_the_isolation_matrix():
    with_ids = {p.name for route, p in _api_routes(get_resolver()) if "<" in route}
    assert with_ids == set(OBJECT_ROUTES) | CAPABILITY_ROUTES, "add new object routes to OBJECT_ROUTES"


@pytest.fixture
def b_objects(tenant_b, worker):
    from tests.conftest import wait_for_task

    speaker_id = tenant_b.ready_voice()
    task_id = tenant_b.create_task(speaker_id).json()["id"]
    wait_for_task(task_id)
    key_id = ApiKey.objects.get(tenant=tenant_b.tenant).id
    batch = tenant_b.client.post(
        "/api/v1/batches", {"requests": [{"text": "Hi there.", "speaker_id": speaker_id}]}, format="json"
    )
    from tenants.models import SubjectRequest

    request_id = SubjectRequest.objects.create(
        tenant=tenant_b.tenant, tenant_slug="bravo", kind="access", due_at=batch.json()["created_at"]
    ).id
    from synthesis.models import SynthesisModel

    model_id = SynthesisModel.objects.create(tenant=tenant_b.tenant, name="b's own", status="READY").id
    return {"speaker_id": speaker_id, "task_id": task_id, "key_id": key_id, "batch_id": batch.json()["id"],
            "request_id": request_id, "model_id": model_id}  # fmt: skip


@pytest.fixture
def owner_a(tenant_a):
    """Tenant A's owner signed in (keys are managed by people, not by API keys)."""
    client = APIClient()
    client.login(username=tenant_a.owner.username, password=tenant_a.password)
    return client


@pytest.mark.parametrize(("route", "method"), [(r, m) for r, (ms, _) in OBJECT_ROUTES.items() for m in ms])
def test_another_tenants_object_is_404(tenant_a, owner_a, b_objects, route, method):
    kwarg = OBJECT_ROUTES[route][1]
    url = reverse(route, kwargs={kwarg: b_objects[kwarg]})
    client = owner_a if kwarg in ("key_id", "request_id") else tenant_a.client
    response = getattr(client, method)(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert str(Task.objects.get(id=b_objects["task_id"]).status) == "DONE"  # untouched
    assert ApiKey.objects.get(id=b_objects["key_id"]).revoked_at is None


def test_a_task_for_another_tenants_voice_is_404(tenant_a, b_objects):
    response = tenant_a.create_task(b_objects["speaker_id"])
    assert response.status_code == 404
    assert not Task.objects.filter(tenant=tenant_a.tenant).exists()


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_lists_never_show_another_tenants_rows(tenant_a, owner_a, b_objects, route):
    own_voice = tenant_a.ready_voice()
    tenant_a.create_task(own_voice)
    listed = owner_a.get(LIST_ROUTES[route]).json()["results"]
    assert listed, "tenant A sees its own rows"
    assert not {row["id"] for row in listed} & set(map(str, b_objects.values()))
