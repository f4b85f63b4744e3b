from __future__ import annotations

from django.test import Client
from rest_framework.test import APIClient

from tenants.models import ApiKey, Role
from tenants.services import member_create


def signed_in(world) -> APIClient:
    client = APIClient()
    assert client.login(username=world.owner.username, password=world.password)
    return client


def test_an_owner_creates_a_key_shown_once_and_revokes_it(tenant_a):
    owner = signed_in(tenant_a)
    created = owner.post("/api/v1/keys", {"name": "laptop"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("sk_live_")
    assert body["key"].startswith(body["prefix"])
    listed = owner.get("/api/v1/keys").json()["results"]
    assert {k["name"] for k in listed} == {"tests", "laptop"}
    assert all("key" not in k for k in listed)  # never shown again
    assert APIClient().get("/api/v1/speakers", HTTP_X_API_KEY=body["key"]).status_code == 200

    revoked = owner.post(f"/api/v1/keys/{body['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    assert APIClient().get("/api/v1/speakers", HTTP_X_API_KEY=body["key"]).status_code == 401


def test_members_and_api_keys_cannot_manage_keys(tenant_a):
    member_create(tenant=tenant_a.tenant, username="mel", password="mel-password", role=Role.MEMBER)
    member = APIClient()
    member.login(username="mel", password="mel-password")
    for client in (member, tenant_a.client):
        response = client.post("/api/v1/keys", {"name": "x"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert ApiKey.objects.filter(tenant=tenant_a.tenant).count() == 1


def test_usage_counts_this_months_characters_tasks_and_voices(tenant_a):
    voice = tenant_a.ready_voice()
    tenant_a.create_task(voice, text="Twelve chars")
    tenant_a.create_task(voice, text="Five.")
    usage = tenant_a.client.get("/api/v1/usage").json()
    assert usage["characters"] == len("Twelve chars") + len("Five.")
    assert usage["tasks"] == 2
    assert usage["voices"] == 1


def test_the_task_list_filters_by_status(tenant_a):
    from synthesis.models import Task, TaskStatus

    voice = tenant_a.ready_voice()
    first = tenant_a.create_task(voice).json()["id"]
    tenant_a.create_task(voice)
    Task.objects.filter(id=first).update(status=TaskStatus.FAILED)
    failed = tenant_a.client.get("/api/v1/tasks?status=FAILED").json()
    assert [t["id"] for t in failed["results"]] == [first]
    assert tenant_a.client.get("/api/v1/tasks?status=BOGUS").status_code == 400


def test_a_voices_reference_plays_back_as_uploaded(tenant_a):
    from tests.conftest import REFERENCE

    voice = tenant_a.upload_voice().json()["id"]
    response = tenant_a.client.get(f"/api/v1/speakers/{voice}/audio")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/flac"
    assert response.content == REFERENCE.read_bytes()


def test_app_pages_need_sign_in_and_keys_need_an_admin(tenant_a):
    anonymous = Client()
    assert anonymous.get("/voices/").status_code == 302
    owner = Client()
    owner.login(username=tenant_a.owner.username, password=tenant_a.password)
    for page in ("/voices/", "/synthesize/", "/history/", "/keys/"):
        response = owner.get(page)
        assert response.status_code == 200, page
        assert tenant_a.tenant.name.encode() in response.content
    member_create(tenant=tenant_a.tenant, username="mel", password="mel-password", role=Role.MEMBER)
    member = Client()
    member.login(username="mel", password="mel-password")
    assert member.get("/synthesize/").status_code == 200
    assert member.get("/keys/").status_code == 403
