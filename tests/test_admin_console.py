from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import ApiKey, AuditEvent


@pytest.fixture
def operator(db, django_user_model):
    django_user_model.objects.create_superuser("operator", "ops@example.com", "operator-password")
    client = Client()
    client.login(username="operator", password="operator-password")
    return client


PAGES = [
    "/admin/",
    "/admin/tenants/tenant/",
    "/admin/tenants/apikey/",
    "/admin/tenants/auditevent/",
    "/admin/synthesis/task/",
    "/admin/operations/",
    "/admin/tenants/subjectrequest/",
]


@pytest.mark.parametrize("page", PAGES)
def test_console_pages_render_for_an_operator(operator, tenant_a, page):
    response = operator.get(page)
    assert response.status_code == 200, page


@pytest.mark.parametrize("page", PAGES)
def test_console_pages_refuse_a_tenant_user(tenant_a, page):
    client = Client()
    client.login(username=tenant_a.owner.username, password=tenant_a.password)  # an owner, not an operator
    response = client.get(page)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_operations_page_shows_indicators_against_thresholds(operator, tenant_a):
    voice = tenant_a.ready_voice()
    for _ in range(3):
        tenant_a.create_task(voice)
    page = operator.get("/admin/operations/").content.decode()
    for name in ("Queue backlog", "synthesis latency", "Profile cache hit rate", "Error rate"):
        assert name in page
    assert "3 tasks" in page


def test_operator_actions_are_audited(operator, tenant_a):
    key = ApiKey.objects.get(tenant=tenant_a.tenant)
    operator.post("/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [str(key.id)]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert event.actor_label == "operator"


def test_the_audit_log_is_read_only(operator, tenant_a):
    assert operator.get("/admin/tenants/auditevent/add/").status_code == 403
