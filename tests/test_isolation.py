"""Tenant A's credentials never reach tenant B's objects: every object route,
every method, answers 404 in the envelope, and B's rows never show in A's lists."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from synthesis.models import Task

# Every API route that takes an object id, and the methods it answers.
OBJECT_ROUTES = {
    "speaker-detail": ["get", "delete"],
    "task-detail": ["get"],
    "task-audio": ["get"],
}
LIST_ROUTES = {"speaker-list": "/api/v1/speakers", "task-list": "/api/v1/tasks"}


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
    assert with_ids == set(OBJECT_ROUTES), "add new object routes to OBJECT_ROUTES"


@pytest.fixture
def b_objects(tenant_b, worker):
    from tests.conftest import wait_for_task

    speaker_id = tenant_b.ready_voice()
    task_id = tenant_b.create_task(speaker_id).json()["id"]
    wait_for_task(task_id)
    return {"speaker_id": speaker_id, "task_id": task_id}


@pytest.mark.parametrize(("route", "method"), [(r, m) for r, ms in OBJECT_ROUTES.items() for m in ms])
def test_another_tenants_object_is_404(tenant_a, b_objects, route, method):
    from django.urls import reverse

    kwarg = "speaker_id" if route.startswith("speaker") else "task_id"
    url = reverse(route, kwargs={kwarg: b_objects[kwarg]})
    response = getattr(tenant_a.client, method)(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert str(Task.objects.get(id=b_objects["task_id"]).status) == "DONE"  # untouched


def test_a_task_for_another_tenants_voice_is_404(tenant_a, b_objects):
    response = tenant_a.create_task(b_objects["speaker_id"])
    assert response.status_code == 404
    assert not Task.objects.filter(tenant=tenant_a.tenant).exists()


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_lists_never_show_another_tenants_rows(tenant_a, b_objects, route):
    own_voice = tenant_a.ready_voice()
    tenant_a.create_task(own_voice)
    listed = tenant_a.client.get(LIST_ROUTES[route]).json()["results"]
    assert listed, "tenant A sees its own rows"
    assert not {row["id"] for row in listed} & set(map(str, b_objects.values()))
