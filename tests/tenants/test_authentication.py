from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tenants.models import ApiKey, Membership, Role, Tenant
from tenants.services import api_key_revoke


def test_createtenant_makes_a_tenant_with_its_owner(db, capsys):
    call_command("createtenant", "acme", owner="alice", password="s3cret-pass")
    tenant = Tenant.objects.get(slug="acme")
    membership = Membership.objects.get(user__username="alice")
    assert membership.tenant == tenant
    assert membership.role == Role.OWNER
    assert membership.user.check_password("s3cret-pass")
    assert len(bytes(tenant.wrapped_data_key)) > 32


def test_createtenant_refuses_a_duplicate_slug(db):
    call_command("createtenant", "acme", owner="alice", password="pw")
    with pytest.raises(Exception, match="already exists"):
        call_command("createtenant", "acme", owner="bob", password="pw")


def test_createapikey_prints_the_key_alone_on_the_last_line_and_stores_only_its_digest(db, capsys):
    call_command("createtenant", "acme", owner="alice", password="pw")
    capsys.readouterr()
    call_command("createapikey", tenant="acme", name="ci")
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line.startswith("sk_live_")
    assert " " not in last_line
    stored = ApiKey.objects.get(name="ci")
    assert last_line not in (stored.digest, stored.prefix)
    assert last_line.startswith(stored.prefix)
    client = APIClient()
    assert client.get("/api/v1/speakers", HTTP_X_API_KEY=last_line).status_code == 200


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_an_api_key_authenticates_in_either_header(tenant_a, header):
    value = f"Api-Key {tenant_a.key}" if header == "HTTP_AUTHORIZATION" else tenant_a.key
    response = APIClient().get("/api/v1/speakers", **{header: value})
    assert response.status_code == 200


def test_a_wrong_key_gets_401_in_the_envelope(tenant_a):
    response = APIClient().get("/api/v1/speakers", HTTP_X_API_KEY=tenant_a.key[:-2] + "xx")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "AUTHENTICATION_FAILED"
    assert error["category"] == "CLIENT"
    assert error["request_id"]
    assert "no such key" in error["message"]


def test_a_revoked_key_no_longer_works_and_says_so(tenant_a):
    api_key_revoke(api_key=ApiKey.objects.get(tenant=tenant_a.tenant))
    response = tenant_a.client.get("/api/v1/speakers")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]  # not the same words as a wrong key


def test_no_credentials_gets_401(db):
    response = APIClient().get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


def test_jwt_obtain_use_and_refresh(tenant_a):
    client = APIClient()
    tokens = client.post(
        "/api/v1/auth/token", {"username": "alpha-owner", "password": tenant_a.password}, format="json"
    ).json()
    assert client.get("/api/v1/speakers", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}").status_code == 200
    refreshed = client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert client.get("/api/v1/speakers", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}").status_code == 200


def test_jwt_with_a_wrong_password_gets_401_envelope(tenant_a):
    response = APIClient().post("/api/v1/auth/token", {"username": "alpha-owner", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_a_forged_jwt_is_refused(tenant_a):
    response = APIClient().get("/api/v1/speakers", HTTP_AUTHORIZATION="Bearer not.a.token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_browser_session_authenticates_and_writes_need_csrf(tenant_a):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="alpha-owner", password=tenant_a.password)
    assert client.get("/api/v1/speakers").status_code == 200
    response = client.post("/api/v1/tasks", {"text": "hi"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_the_login_page_signs_a_member_in(tenant_a):
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    response = client.post("/accounts/login/", {"username": "alpha-owner", "password": tenant_a.password})
    assert response.status_code == 302
    assert client.get("/api/v1/tasks").status_code == 200


def test_a_user_without_a_tenant_is_refused(db, django_user_model):
    django_user_model.objects.create_user(username="loner", password="pw")
    client = Client()
    client.login(username="loner", password="pw")
    response = client.get("/api/v1/speakers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_a_websocket_ticket_is_single_use(tenant_a):
    from tenants.services import websocket_ticket_tenant

    ticket = tenant_a.client.post("/api/v1/auth/ws-ticket").json()["ticket"]
    assert websocket_ticket_tenant(ticket) == tenant_a.tenant
    assert websocket_ticket_tenant(ticket) is None  # replayed (from a log, a proxy): refused
    another = tenant_a.client.post("/api/v1/auth/ws-ticket").json()["ticket"]
    assert another != ticket
    assert websocket_ticket_tenant(another) == tenant_a.tenant
