from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import ApiKey, AuditEvent, Tenant


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


def test_the_tenant_page_shows_region_usage_chart_retention_and_dpa(operator, tenant_a):
    voice = tenant_a.ready_voice()
    tenant_a.create_task(voice, text="Thirty characters of text, yes")
    page = operator.get(f"/admin/tenants/tenant/{tenant_a.tenant.id}/change/").content.decode()
    assert "Usage, last 30 days" in page
    assert page.count('class="usage-bar"') == 30
    assert "30 characters in 1 task;" in page
    assert "European Union" in page  # the region, shown read-only
    assert 'name="region"' not in page  # fixed at creation: no field to change it
    assert 'name="retention_days"' in page
    assert 'name="quota-0-monthly_characters"' in page
    listing = operator.get("/admin/tenants/tenant/").content.decode()
    assert "not accepted" not in listing  # tenant_a accepted the DPA
    assert "accepted" in listing


def test_an_operator_can_create_a_tenant_in_a_region(operator):
    from synthesis import storage

    form = {
        "slug": "northwind", "name": "Northwind", "region": "us", "retention_days": "7",
        "quota-TOTAL_FORMS": "1", "quota-INITIAL_FORMS": "0", "quota-MIN_NUM_FORMS": "0", "quota-MAX_NUM_FORMS": "1",
        "quota-0-monthly_characters": "1000", "quota-0-daily_tasks": "10", "quota-0-concurrent_tasks": "2",
        "quota-0-voices": "3", "quota-0-stored_bytes": "1000000", "quota-0-requests_per_minute": "60",
        "quota-0-model_pairs": "2",
    }  # fmt: skip
    response = operator.post("/admin/tenants/tenant/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant = Tenant.objects.get(slug="northwind")
    assert (tenant.region, tenant.retention_days, tenant.quota.monthly_characters) == ("us", 7, 1000)
    key = storage.put(tenant=tenant, kind="results", data=b"works")  # it got a data key
    assert key.startswith(f"us/{tenant.id}/")
    assert storage.get(tenant=tenant, object_key=key) == b"works"
    created = AuditEvent.objects.get(action="tenant.created_by_operator", tenant=tenant)
    assert created.actor_label == "operator"
    assert "region" in created.details["fields"]


def test_a_retention_change_is_audited_and_tenants_are_not_deleted_here(operator, tenant_a):
    page = f"/admin/tenants/tenant/{tenant_a.tenant.id}/change/"
    quota = tenant_a.tenant.quota
    form = {
        "slug": "alpha", "name": "alpha", "retention_days": "7",
        "quota-TOTAL_FORMS": "1", "quota-INITIAL_FORMS": "1", "quota-MIN_NUM_FORMS": "0", "quota-MAX_NUM_FORMS": "1",
        "quota-0-id": str(quota.pk), "quota-0-tenant": str(tenant_a.tenant.id),
        **{f"quota-0-{name}": str(getattr(quota, name)) for name in (
            "monthly_characters", "daily_tasks", "concurrent_tasks", "voices", "stored_bytes", "requests_per_minute",
            "model_pairs")},
    }  # fmt: skip
    response = operator.post(page, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant_a.tenant.refresh_from_db()
    assert (tenant_a.tenant.retention_days, tenant_a.tenant.region) == (7, "eu")
    event = AuditEvent.objects.get(action="tenant.changed_by_operator", tenant=tenant_a.tenant)
    assert event.details["fields"] == ["retention_days"]
    assert operator.get(f"/admin/tenants/tenant/{tenant_a.tenant.id}/delete/").status_code == 403


def test_the_operations_page_counts_purges(operator):
    from synthesis.services.retention import purge

    purge()
    page = operator.get("/admin/operations/").content.decode()
    assert "Retention purge" in page
    assert "retention purge" in page  # the indicator
    assert "never" not in page  # every region has run


def _samples(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_purges_for_operators_and_scrapers_only(operator, tenant_a, settings):
    from datetime import timedelta

    from django.utils import timezone

    from synthesis.models import Task, TaskStatus
    from synthesis.services.retention import purge

    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    Task.objects.filter(id=task_id).update(status=TaskStatus.DONE, created_at=timezone.now() - timedelta(days=40))
    before = _samples(operator.get("/metrics").content.decode())
    purge()
    response = operator.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    after = _samples(response.content.decode())
    assert after[("sovits_purge_runs_total", ())] == before.get(("sovits_purge_runs_total", ()), 0) + 1
    tasks = ("sovits_purged_total", (("kind", "tasks"),))
    assert after[tasks] == before.get(tasks, 0) + 1
    assert after[("sovits_purge_last_run_timestamp_seconds", (("region", "eu"),))] > 0
    assert after[("sovits_alerting", (("indicator", "hours_since_purge"),))] == 0
    assert ("sovits_tasks_pending", (("region", "us"),)) in after

    owner = Client()
    owner.login(username=tenant_a.owner.username, password=tenant_a.password)
    assert owner.get("/metrics").status_code == 403
    anonymous = Client().get("/metrics")
    assert anonymous.status_code == 401  # plain text for a scraper, not the app's HTML page
    assert anonymous["Content-Type"].startswith("text/plain")
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert b"<html" not in owner.get("/metrics").content
    settings.METRICS_TOKEN = "scrape-secret-123"
    assert Client().get("/metrics", headers={"Authorization": "Bearer scrape-secret-123"}).status_code == 200
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_operators_see_what_the_reconciler_recovered(operator, tenant_a, settings):
    from datetime import timedelta

    from django.utils import timezone

    from synthesis.models import Task, TaskStatus
    from synthesis.services.reconciler import reconcile

    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    # Its worker died long ago, and no message for it is left in Redis (none was sent: the
    # test client's transaction never commits, as if Redis had been flushed).
    Task.objects.filter(id=task_id).update(status=TaskStatus.PROCESSING, attempts=1, worker="gone:1",
                                           heartbeat_at=timezone.now() - timedelta(minutes=5))  # fmt: skip
    before = _samples(operator.get("/metrics").content.decode())
    assert reconcile(region="eu") == {"tasks_taken_over": 1}

    after = _samples(operator.get("/metrics").content.decode())
    taken_over = ("sovits_reconciled_total", (("kind", "tasks_taken_over"),))
    assert after[taken_over] == before.get(taken_over, 0) + 1
    assert after[("sovits_redis_up", ())] == 1
    page = operator.get("/admin/operations/").content.decode()
    assert "Tasks taken over from dead workers" in page
    assert "answering" in page
    tasks = operator.get("/admin/synthesis/task/").content.decode()
    assert "gone:1" in tasks  # who held it, for the operator


def test_what_the_usage_counters_count_is_not_edited_or_deleted_here(operator, tenant_a):
    """Tasks are read-only and voices and tenant models are not deleted in the console: the
    counters move in the services' transactions, which an admin form would bypass."""
    from synthesis.models import Speaker, Task
    from synthesis.services import usage

    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]
    task_page = f"/admin/synthesis/task/{task_id}/change/"
    assert operator.get(task_page).status_code == 200  # operators still see it
    assert operator.post(task_page, {"status": "DONE", "characters": "1"}).status_code == 403
    assert operator.post(f"/admin/synthesis/task/{task_id}/delete/", {"post": "yes"}).status_code == 403
    assert operator.post(f"/admin/synthesis/speaker/{voice}/delete/", {"post": "yes"}).status_code == 403
    assert Task.objects.filter(id=task_id, status="PENDING").exists()
    assert Speaker.objects.filter(id=voice, deleted_at__isnull=True).exists()
    assert usage.recount(tenant_a.tenant) == {}


def test_the_index_leads_to_operations_and_names_things_right(operator, tenant_a):
    index = operator.get("/admin/").content.decode()
    assert 'href="/admin/operations/"' in index
    assert "API keys" in index
    assert "Api keys" not in index
    tenant_page = operator.get(f"/admin/tenants/tenant/{tenant_a.tenant.id}/change/").content.decode()
    assert "DPA" in tenant_page
    assert "accepted " in tenant_page  # the acceptance's date, on the tenant's own page


def test_voices_and_webhook_deliveries_are_not_made_by_hand(operator):
    for model in ("synthesis/speaker", "synthesis/webhookdelivery"):
        assert operator.get(f"/admin/{model}/add/").status_code == 403
        assert "/add/" not in operator.get(f"/admin/{model}/").content.decode().split("<table")[0]


def test_a_cold_profile_cache_does_not_alert(operator, settings):
    from django.core.cache import cache

    from synthesis import operations

    cache.delete_many([operations._HITS, operations._MISSES])  # counted by earlier tests of this run
    operations.count_profile_cache(hit=False)  # the first lookups after a start miss by design
    rate = next(i for i in operations.indicators() if i.metric == "profile_cache_hit_percent")
    assert rate.value is None
    assert not rate.alerting
    for _ in range(operations.MIN_LOOKUPS_FOR_HIT_RATE):
        operations.count_profile_cache(hit=False)
    rate = next(i for i in operations.indicators() if i.metric == "profile_cache_hit_percent")
    assert rate.value == 0.0
    assert rate.alerting  # with traffic, a cache that never hits is worth an alert
