from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from synthesis.models import Task, TaskStatus
from tenants.models import Quota


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


def set_quota(world, **limits) -> None:
    Quota.objects.filter(tenant=world.tenant).update(**limits)


def test_a_new_tenant_starts_on_finite_default_limits(tenant_a, settings):
    quota = Quota.objects.get(tenant=tenant_a.tenant)
    for name, value in settings.DEFAULT_QUOTAS.items():
        assert getattr(quota, name) == value > 0


def test_fifty_concurrent_requests_at_the_edge_accept_exactly_what_fits(tenant_a, voice, live_server):
    """Real concurrency: 50 threads against the live (threaded) server; the quota row lock
    serialises them, so exactly the remaining 7 concurrent-task slots are taken."""
    set_quota(tenant_a, concurrent_tasks=10, requests_per_minute=10_000)
    for i in range(3):
        tenant_a.create_task(voice, text=f"Already queued {i}.")

    def post(i: int) -> int:
        return httpx.post(
            f"{live_server.url}/api/v1/tasks",
            json={"text": f"Concurrent request {i}.", "speaker_id": voice, "language": "en"},
            headers={"X-API-Key": tenant_a.key},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(post, range(50)))
    assert statuses.count(202) == 7, statuses
    assert statuses.count(429) == 43
    assert Task.objects.filter(tenant=tenant_a.tenant, status=TaskStatus.PENDING).count() == 10


def test_the_refusal_names_the_quota_with_retry_after(tenant_a, voice):
    set_quota(tenant_a, monthly_characters=30)
    assert tenant_a.create_task(voice, text="Twenty characters ok").status_code == 202
    response = tenant_a.create_task(voice, text="This one does not fit.")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["retryable"] is True
    details = error["details"]
    assert (details["quota"], details["limit"], details["used"]) == ("monthly_characters", 30, 20)
    assert details["resets_at"]
    assert int(response["Retry-After"]) == details["retry_after"] > 0


def test_failed_and_cancelled_tasks_give_their_characters_back(tenant_a, voice):
    set_quota(tenant_a, monthly_characters=40)
    first = tenant_a.create_task(voice, text="Thirty characters of text here").json()["id"]
    assert tenant_a.create_task(voice, text="Twenty characters ok").status_code == 429
    tenant_a.client.post(f"/api/v1/tasks/{first}/cancel")
    assert tenant_a.create_task(voice, text="Twenty characters ok").status_code == 202


def test_daily_tasks_voices_and_batches_are_limited(tenant_a, voice):
    set_quota(tenant_a, daily_tasks=3, voices=1)
    batch = {"requests": [{"text": "One.", "speaker_id": voice}] * 4}
    response = tenant_a.client.post("/api/v1/batches", batch, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["details"]["quota"] == "daily_tasks"
    assert not Task.objects.filter(tenant=tenant_a.tenant).exists()  # all or nothing
    assert tenant_a.upload_voice().json()["error"]["details"]["quota"] == "voices"


def test_stored_bytes_limit_uploads(tenant_a):
    set_quota(tenant_a, stored_bytes=1000)
    response = tenant_a.upload_voice()
    assert response.status_code == 429
    assert response.json()["error"]["details"]["quota"] == "stored_bytes"


def test_usage_shows_every_limit(tenant_a, voice):
    tenant_a.create_task(voice, text="Twelve chars")
    quotas = tenant_a.client.get("/api/v1/usage").json()["quotas"]
    assert set(quotas) == {"monthly_characters", "daily_tasks", "concurrent_tasks", "voices", "models", "stored_bytes"}
    assert quotas["monthly_characters"]["used"] == 12
    assert quotas["concurrent_tasks"]["used"] == 1
    assert quotas["voices"]["used"] == 1
    assert quotas["stored_bytes"]["used"] > 0


def test_one_tenants_quota_does_not_touch_another(tenant_a, tenant_b, voice):
    set_quota(tenant_a, concurrent_tasks=0)
    assert tenant_a.create_task(voice).status_code == 429
    other_voice = tenant_b.ready_voice()
    assert tenant_b.create_task(other_voice).status_code == 202
