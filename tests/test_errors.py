from __future__ import annotations

import re
from pathlib import Path

from django.test import RequestFactory
from rest_framework.test import APIClient

from sovits_site import handlers
from sovits_site.errors import CATALOGUE, api_exception_handler

DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "category", "message", "retryable", "details", "request_id"}
    assert error["category"] in {"CLIENT", "SERVER", "SYSTEM"}
    assert error["message"]
    return error


def test_wrong_method_is_405(tenant_a):
    assert_envelope(tenant_a.client.put("/api/v1/tasks", {}, format="json"), 405, "METHOD_NOT_ALLOWED")


def test_unsupported_content_type_is_415(tenant_a):
    response = tenant_a.client.post("/api/v1/tasks", "text=hi", content_type="text/plain")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_malformed_json_is_400(tenant_a):
    response = tenant_a.client.post("/api/v1/tasks", "{not json", content_type="application/json")
    assert_envelope(response, 400, "MALFORMED_REQUEST")


def test_an_unknown_api_url_is_404_in_the_envelope(tenant_a):
    assert_envelope(tenant_a.client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_envelope(tenant_a.client.get("/api/v1/tasks/not-a-uuid"), 404, "NOT_FOUND")


def test_too_many_requests_is_429_with_retry_after(tenant_a):
    quota = tenant_a.tenant.quota
    assert tenant_a.client.get("/api/v1/speakers").status_code == 200  # the default rate is cached now...
    quota.requests_per_minute = 3
    quota.save()  # ...and forgotten when the quota changes
    statuses = [tenant_a.client.get("/api/v1/speakers").status_code for _ in range(2)]
    assert statuses == [200, 200]
    response = tenant_a.client.get("/api/v1/speakers")
    error = assert_envelope(response, 429, "RATE_LIMITED")
    assert error["retryable"] is True
    assert int(response["Retry-After"]) > 0


def test_an_unexpected_exception_becomes_a_500_envelope():
    request = RequestFactory().get("/api/v1/tasks")
    response = api_exception_handler(RuntimeError("boom"), {"request": request})
    assert response.status_code == 500
    assert response.data["error"]["code"] == "INTERNAL_ERROR"
    assert response.data["error"]["category"] == "SERVER"
    assert "boom" not in str(response.data)


def test_a_crash_outside_drf_on_an_api_path_is_a_500_envelope():
    request = RequestFactory().get("/api/v1/tasks")
    request.request_id = "abc"
    import json

    body = json.loads(handlers.server_error(request).content)
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert body["error"]["request_id"] == "abc"


def test_healthz_needs_no_auth(db):
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_request_id_is_echoed(tenant_a):
    response = tenant_a.client.get("/api/v1/nothing", HTTP_X_REQUEST_ID="req-123")
    assert response["X-Request-ID"] == "req-123"
    assert response.json()["error"]["request_id"] == "req-123"


def test_every_catalogue_code_is_documented_with_its_status():
    documented = dict(re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", DOCS.read_text(), flags=re.MULTILINE))
    assert documented == {code: str(entry.status) for code, entry in CATALOGUE.items()}


def test_the_rate_limit_holds_across_concurrent_requests(tenant_a, live_server):
    """The count is one atomic Redis increment: 20 requests at once against a limit of 5
    (the key already used once) let exactly 4 through."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def get(_) -> int:
        response = httpx.get(f"{live_server.url}/api/v1/speakers", headers={"X-API-Key": tenant_a.key}, timeout=30)
        return response.status_code

    assert get(0) == 200
    quota = tenant_a.tenant.quota
    quota.requests_per_minute = 5
    quota.save()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(get, range(20)))
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 16


def _access_token(world, *, expired: bool) -> str:
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(world.owner)
    if expired:
        token.set_exp(from_time=timezone.now() - timedelta(hours=1))
    return str(token)


def test_an_expired_jwt_says_token_expired_in_plain_words(tenant_a):
    fresh = _access_token(tenant_a, expired=False)
    assert APIClient().get("/api/v1/speakers", HTTP_AUTHORIZATION=f"Bearer {fresh}").status_code == 200
    expired = _access_token(tenant_a, expired=True)
    response = APIClient().get("/api/v1/speakers", HTTP_AUTHORIZATION=f"Bearer {expired}")
    error = assert_envelope(response, 401, "TOKEN_EXPIRED")
    assert error["retryable"] is False  # the same request fails again: refresh first
    assert "refresh" in error["message"]
    assert "ErrorDetail" not in error["message"]
    assert "{" not in error["message"]
    assert response["WWW-Authenticate"]


def test_an_invalid_jwt_or_refresh_token_is_refused_in_plain_words(tenant_a):
    fresh = _access_token(tenant_a, expired=False)
    for token in ("not.a.token", fresh[:-4] + "abcd"):
        error = assert_envelope(APIClient().get("/api/v1/speakers", HTTP_AUTHORIZATION=f"Bearer {token}"),
                                401, "AUTHENTICATION_FAILED")  # fmt: skip
        assert "ErrorDetail" not in error["message"], error["message"]
        assert "token_class" not in error["message"], error["message"]
    refresh = APIClient().post("/api/v1/auth/token/refresh", {"refresh": "garbage"}, format="json")
    error = assert_envelope(refresh, 401, "AUTHENTICATION_FAILED")  # not TOKEN_EXPIRED: refreshing cannot help
    assert "ErrorDetail" not in error["message"], error["message"]
    assert "{" not in error["message"], error["message"]


def test_unknown_pages_and_refused_pages_are_the_apps_own(tenant_a):
    from django.test import Client

    from tenants.models import Role
    from tenants.services import member_create

    anonymous = Client().get("/no-such-page/")
    assert anonymous.status_code == 404
    page = anonymous.content.decode()
    assert "Page not found" in page
    assert "css/app.css" in page
    assert "Sign in" in page
    assert "/no-such-page/" in page
    member_create(tenant=tenant_a.tenant, username="mel", password="mel-password", role=Role.MEMBER)
    member = Client()
    member.login(username="mel", password="mel-password")
    refused = member.get("/keys/")
    assert refused.status_code == 403
    page = refused.content.decode()
    assert "app.css" in page
    assert "You cannot open this page" in page
    assert "Only the workspace&#x27;s owners and admins manage API keys" in page
    assert 'aria-label="Main"' in page
    assert "Sign out" in page
    missing = member.get("/nothing/")
    assert missing.status_code == 404
    assert 'aria-label="Main"' in missing.content.decode()


def test_metrics_without_credentials_answer_plain_text():
    from django.test import Client

    response = Client().get("/metrics")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/plain")
    assert b"<html" not in response.content.lower()
    assert response["WWW-Authenticate"].startswith("Bearer")
