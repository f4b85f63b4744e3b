from __future__ import annotations

import jwt
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from tenants.models import AuditEvent


def obtain(world) -> dict:
    response = APIClient().post(
        "/api/v1/auth/token", {"username": world.owner.username, "password": world.password}, format="json"
    )
    assert response.status_code == 200
    return response.json()


def test_access_tokens_carry_tenant_and_role_and_are_short_lived(tenant_a):
    access = obtain(tenant_a)["access"]
    claims = jwt.decode(access, django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])
    assert claims["tenant"] == str(tenant_a.tenant.id)
    assert claims["role"] == "owner"
    assert claims["exp"] - claims["iat"] <= 15 * 60


def test_refresh_rotates_and_the_old_refresh_token_is_dead(tenant_a):
    client = APIClient()
    first = obtain(tenant_a)["refresh"]
    rotated = client.post("/api/v1/auth/token/refresh", {"refresh": first}, format="json").json()
    assert rotated["refresh"] != first
    again = client.post("/api/v1/auth/token/refresh", {"refresh": first}, format="json")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_logout_blacklists_the_refresh_token(tenant_a):
    client = APIClient()
    refresh = obtain(tenant_a)["refresh"]
    assert client.post("/api/v1/auth/logout", {"refresh": refresh}, format="json").status_code == 200
    assert client.post("/api/v1/auth/token/refresh", {"refresh": refresh}, format="json").status_code == 401


def test_repeated_failed_logins_are_locked_out_and_audited(tenant_a, settings):
    settings.AXES_ENABLED = True
    client = APIClient()
    bad = {"username": tenant_a.owner.username, "password": "wrong"}
    statuses = [client.post("/api/v1/auth/token", bad, format="json").status_code for _ in range(5)]
    assert statuses == [401] * 4 + [429]  # the fifth failure locks the account out
    locked = client.post(
        "/api/v1/auth/token", {"username": tenant_a.owner.username, "password": tenant_a.password}, format="json"
    )
    assert locked.status_code == 429  # even the right password, until the cool-off ends
    assert locked.json()["error"]["code"] == "RATE_LIMITED"
    assert int(locked["Retry-After"]) > 0
    failures = AuditEvent.objects.filter(action="login.failed", tenant=tenant_a.tenant)
    assert failures.count() >= 5
    assert failures.first().actor_label == tenant_a.owner.username


def test_an_expired_key_is_refused(tenant_a):
    from datetime import timedelta

    from django.utils import timezone

    from tenants.models import ApiKey

    ApiKey.objects.filter(tenant=tenant_a.tenant).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = tenant_a.client.get("/api/v1/speakers")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_key_without_the_scope_gets_403(tenant_a):
    from tenants.services import api_key_create

    reader = api_key_create(tenant=tenant_a.tenant, name="reader", scopes=["read"]).secret
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=reader)
    assert client.get("/api/v1/tasks").status_code == 200
    response = client.post("/api/v1/tasks", {"text": "Hi.", "speaker_id": str(tenant_a.tenant.id)}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert client.get("/tts", {"text": "Hi.", "ref_audio_path": "x"}).status_code == 403
    assert client.post("/api/v1/keys", {"name": "x"}, format="json").status_code == 403
    admin = api_key_create(tenant=tenant_a.tenant, name="admin", scopes=["admin", "read"]).secret
    client.credentials(HTTP_X_API_KEY=admin)
    assert client.post("/api/v1/keys", {"name": "made by a key"}, format="json").status_code == 201


def test_key_changes_are_audited_with_actor_and_ip(tenant_a):
    owner = APIClient()
    owner.login(username=tenant_a.owner.username, password=tenant_a.password)
    key = owner.post("/api/v1/keys", {"name": "audited"}, format="json", REMOTE_ADDR="203.0.113.7").json()
    owner.post(f"/api/v1/keys/{key['id']}/revoke", REMOTE_ADDR="203.0.113.7")
    events = {e.action: e for e in AuditEvent.objects.filter(tenant=tenant_a.tenant)}
    assert {"api_key.created", "api_key.revoked"} <= set(events)
    assert events["api_key.revoked"].actor == tenant_a.owner
    assert events["api_key.revoked"].ip == "203.0.113.7"


def test_a_missing_scope_is_named_and_the_webhook_secret_needs_admin(tenant_a, capsys):
    from django.core.management import call_command

    reader = tenant_a.client  # like createapikey's default key: all scopes but admin
    response = reader.get("/api/v1/webhooks/secret")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert error["details"]["required_scope"] == "admin"
    assert "'admin'" in error["message"]
    from tenants.services import api_key_create

    only_read = APIClient()
    only_read.credentials(HTTP_X_API_KEY=api_key_create(tenant=tenant_a.tenant, scopes=["read"]).secret)
    denied = only_read.post("/api/v1/tasks", {"text": "Hi.", "speaker_id": str(tenant_a.tenant.id)}, format="json")
    assert denied.json()["error"]["details"]["required_scope"] == "synthesize"

    call_command("createapikey", tenant=tenant_a.tenant.slug, scopes="read,admin")  # as the README says
    out = capsys.readouterr().out.strip().splitlines()
    assert "scopes admin, read" in out[0]
    admin = APIClient()
    admin.credentials(HTTP_X_API_KEY=out[-1])
    secret = admin.get("/api/v1/webhooks/secret")
    assert secret.status_code == 200
    assert secret.json()["secret"].startswith("whsec_")


def test_a_refresh_token_of_a_deleted_account_is_a_401_not_a_500(tenant_a):
    refresh = obtain(tenant_a)["refresh"]
    tenant_a.owner.delete()
    response = APIClient().post("/api/v1/auth/token/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
