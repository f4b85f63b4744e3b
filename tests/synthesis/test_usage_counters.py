"""Quotas read counters kept in the writing transactions: exact, and a cost that does not
grow with the tenant's history."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from synthesis.models import Task, TaskStatus
from synthesis.services import usage
from synthesis.services.retention import purge
from synthesis.services.runner import task_run
from tenants.models import Quota


def _history(world, voice: str, count: int) -> None:
    """``count`` finished tasks added behind the service's back, then counted by the repair command."""
    now = timezone.now()
    Task.objects.bulk_create(
        Task(tenant=world.tenant, speaker_id=voice, text="Old words.", characters=10, language="en",
             status=TaskStatus.DONE, result_bytes=100, created_at=now, finished_at=now)
        for _ in range(count)
    )  # fmt: skip
    call_command("recountusage", "--tenant", world.tenant.slug, verbosity=0)


def _queries(call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code < 300, response.content
    return [query["sql"] for query in captured.captured_queries]


def test_counters_follow_every_way_a_task_or_a_file_comes_and_goes(tenant_a):
    tenant = tenant_a.tenant
    voice, doomed, spare = tenant_a.ready_voice(), tenant_a.ready_voice(name="doomed"), tenant_a.ready_voice(name="x")
    done = tenant_a.create_task(voice, text="Said and done.").json()["id"]
    failed = tenant_a.create_task(doomed, text="Never said.").json()["id"]
    cancelled = tenant_a.create_task(voice, text="Called off.").json()["id"]
    batch = tenant_a.client.post("/api/v1/batches", {"requests": [
        {"speaker_id": voice, "text": "One.", "language": "en"}, {"speaker_id": voice, "text": "Two.", "language": "en"}
    ]}, format="json").json()  # fmt: skip
    tenant_a.client.delete(f"/api/v1/speakers/{doomed}")
    tenant_a.client.delete(f"/api/v1/speakers/{doomed}")  # twice: counted once
    assert tenant_a.client.post(f"/api/v1/tasks/{cancelled}/cancel").status_code == 200
    task_run(task_id=done)
    task_run(task_id=failed)
    tenant_a.client.delete(f"/api/v1/speakers/{spare}")

    assert usage.recount(tenant) == {}  # the counters equal what the rows say
    body = tenant_a.client.get("/api/v1/usage").json()
    charged = len("Said and done.") + len("One.") + len("Two.")
    assert (body["characters"], body["tasks"], body["tasks_done"]) == (charged, 5, 1)
    assert body["quotas"]["concurrent_tasks"]["used"] == 2  # the batch's two
    today = body["daily"][-1]
    assert (today["tasks"], today["done"], today["failed"], today["characters"]) == (5, 1, 1, charged)

    Task.objects.filter(id=done).update(created_at=timezone.now() - timezone.timedelta(days=40))
    purge()
    stored = tenant_a.client.get("/api/v1/usage").json()["quotas"]["stored_bytes"]["used"]
    assert stored == usage.stored_bytes(tenant.id)  # the purged result's bytes went with it
    assert tenant_a.client.get("/api/v1/usage").json()["characters"] == charged  # its characters stayed
    assert batch["total"] == 2


def test_the_repair_command_counts_rows_changed_by_hand(tenant_a, capsys):
    voice = tenant_a.ready_voice()
    now = timezone.now()
    Task.objects.create(tenant=tenant_a.tenant, speaker_id=voice, text="By hand.", characters=8, language="en",
                        status=TaskStatus.DONE, result_bytes=1234, created_at=now)  # fmt: skip
    assert tenant_a.client.get("/api/v1/usage").json()["characters"] == 0
    call_command("recountusage")
    assert "alpha: recounted" in capsys.readouterr().out
    body = tenant_a.client.get("/api/v1/usage").json()
    assert (body["characters"], body["tasks"], body["tasks_done"]) == (8, 1, 1)
    call_command("recountusage", "--tenant", "alpha")
    assert "alpha: counters match the rows" in capsys.readouterr().out


def test_a_task_create_costs_the_same_with_a_long_history(tenant_a, settings):
    settings.API_KEY_CACHE_SECONDS = 3600  # the key is looked up once, not again mid-test
    Quota.objects.filter(tenant=tenant_a.tenant).update(daily_tasks=10**6, concurrent_tasks=10**6)
    voice = tenant_a.ready_voice()
    tenant_a.create_task(voice)
    fresh = _queries(lambda: tenant_a.create_task(voice))
    _history(tenant_a, voice, 3000)
    long = _queries(lambda: tenant_a.create_task(voice))
    assert len(long) == len(fresh)
    assert len(fresh) <= 12
    reads_of_tasks = [sql for sql in long if re.search(r'\bfrom\s+"?synthesis_task"?\s', sql, re.IGNORECASE)]
    assert reads_of_tasks == []  # the counters answer: nothing reads the tenant's tasks
    assert tenant_a.client.get("/api/v1/usage").json()["tasks"] == 3003


def test_reads_take_a_fixed_number_of_queries(tenant_a, settings):
    settings.API_KEY_CACHE_SECONDS = 3600  # the key is looked up once, not again mid-test
    voice = tenant_a.ready_voice()
    first = tenant_a.create_task(voice).json()["id"]
    batch = tenant_a.client.post("/api/v1/batches", {"requests": [
        {"speaker_id": voice, "text": "One.", "language": "en"}, {"speaker_id": voice, "text": "Two.", "language": "en"}
    ]}, format="json").json()["id"]  # fmt: skip
    reads = {
        "task": lambda: tenant_a.client.get(f"/api/v1/tasks/{first}"),
        "tasks": lambda: tenant_a.client.get("/api/v1/tasks"),
        "batch": lambda: tenant_a.client.get(f"/api/v1/batches/{batch}"),
        "usage": lambda: tenant_a.client.get("/api/v1/usage"),
        "voices": lambda: tenant_a.client.get("/api/v1/speakers"),
    }
    few = {name: len(_queries(read)) for name, read in reads.items()}
    for _ in range(3):
        tenant_a.ready_voice()
    _history(tenant_a, voice, 500)
    many = {name: len(_queries(read)) for name, read in reads.items()}
    assert many == few
    # The key is known (trusted for API_KEY_CACHE_SECONDS), so these are the reads themselves:
    # a row; a page and its count; a batch and its items; usage: counters with limits, voices,
    # models, the month's and the 30 days' daily rows.
    assert few == {"task": 1, "tasks": 2, "batch": 2, "usage": 5, "voices": 2}
