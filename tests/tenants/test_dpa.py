from __future__ import annotations

from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tenants.models import AuditEvent, DpaAcceptance, Tenant
from tenants.services import api_key_create, member_create, tenant_create


def fresh_tenant(slug="nodpa"):
    tenant = tenant_create(slug=slug)
    owner = member_create(tenant=tenant, username=f"{slug}-owner", password="pw-owner", role="owner").user
    key = api_key_create(tenant=tenant).secret
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return tenant, owner, client


def test_a_tenant_without_dpa_acceptance_gets_a_clear_403_on_synthesis(db):
    tenant, _, client = fresh_tenant()
    for path, body in (("/api/v1/tasks", {"text": "Hi.", "speaker_id": str(tenant.id)}),
                       ("/api/v1/batches", {"requests": [{"text": "Hi.", "speaker_id": str(tenant.id)}]})):  # fmt: skip
        response = client.post(path, body, format="json")
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "DPA_NOT_ACCEPTED"
        assert error["details"]["version"]
    assert client.get("/api/v1/dpa").json()["accepted"] is False


def test_the_owner_accepts_and_the_record_holds_who_when_version_and_ip(db, settings):
    tenant, owner, key_client = fresh_tenant()
    assert key_client.post("/api/v1/dpa/accept").status_code == 403  # a key cannot accept for the tenant
    browser = Client()
    browser.login(username="nodpa-owner", password="pw-owner")
    page = browser.get("/dpa/")
    assert page.status_code == 200
    assert b"Art. 28(3)(h)" in page.content
    assert browser.post("/dpa/", REMOTE_ADDR="192.0.2.10").status_code == 302
    acceptance = DpaAcceptance.objects.get(tenant=tenant)
    assert (acceptance.user, acceptance.version, acceptance.ip) == (owner, settings.DPA_VERSION, "192.0.2.10")
    assert acceptance.accepted_at
    assert AuditEvent.objects.filter(action="dpa.accepted", tenant=tenant).exists()
    assert key_client.get("/api/v1/dpa").json()["accepted"] is True


def test_a_new_version_asks_again(tenant_a, settings):
    voice = tenant_a.ready_voice()
    assert tenant_a.create_task(voice).status_code == 202
    settings.DPA_VERSION = "2027-01"
    settings.DPA_DIR = settings.BASE_DIR / "docs" / "dpa"
    (settings.DPA_DIR / "2027-01.md").write_text("A newer agreement.")
    try:
        assert tenant_a.create_task(voice).json()["error"]["code"] == "DPA_NOT_ACCEPTED"
    finally:
        (settings.DPA_DIR / "2027-01.md").unlink()


def test_members_cannot_accept(db):
    tenant, _, _ = fresh_tenant()
    member_create(tenant=tenant, username="mem", password="pw-mem", role="member")
    browser = Client()
    browser.login(username="mem", password="pw-mem")
    assert browser.post("/dpa/").status_code == 403
    assert not DpaAcceptance.objects.filter(tenant=tenant).exists()


def test_createtenant_can_record_the_owners_acceptance(db):
    call_command("createtenant", "scripted", owner="sam", password="pw-sam", accept_dpa=True)
    assert DpaAcceptance.objects.filter(tenant=Tenant.objects.get(slug="scripted"), user__username="sam").exists()
