from __future__ import annotations

import os
import time
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from synthesis import storage
from synthesis.models import Speaker, Task, TaskStatus
from synthesis.services.retention import purge
from tests.conftest import wait_for_task


def age(task_id, days: float) -> None:
    Task.objects.filter(id=task_id).update(created_at=timezone.now() - timedelta(days=days))


def test_a_task_past_the_policy_goes_with_its_files_and_one_inside_stays(tenant_a, worker):
    voice = tenant_a.ready_voice()
    old = wait_for_task(tenant_a.create_task(voice, text="Old words.").json()["id"])
    recent = wait_for_task(tenant_a.create_task(voice, text="Recent words.").json()["id"])
    tenant_a.tenant.retention_days = 7
    tenant_a.tenant.save()
    age(old.id, 8)
    age(recent.id, 6)
    report = purge()
    assert report.tasks == [str(old.id)]
    assert not Task.objects.filter(id=old.id).exists()
    assert not storage._path(old.result_key).exists()
    assert Task.objects.filter(id=recent.id).exists()
    assert storage._path(recent.result_key).exists()
    assert purge().counts()["tasks"] == 0  # idempotent: a second run finds nothing more


def test_thirty_day_tenants_keep_a_week_old_task(tenant_a):
    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]
    Task.objects.filter(id=task_id).update(status=TaskStatus.DONE)
    age(task_id, 8)
    assert purge().tasks == []
    age(task_id, 31)
    assert purge().tasks == [task_id]


def test_dry_run_lists_and_deletes_nothing(tenant_a, capsys):
    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]
    Task.objects.filter(id=task_id).update(status=TaskStatus.FAILED)
    age(task_id, 40)
    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert f"Would purge task {task_id}" in out
    assert Task.objects.filter(id=task_id).exists()


def test_deleted_voices_and_orphan_files_go_and_fresh_files_stay(tenant_a):
    voice = tenant_a.ready_voice()
    tenant_a.client.delete(f"/api/v1/speakers/{voice}")
    orphan = storage.put(tenant=tenant_a.tenant, kind="results", data=b"left behind by a crash")
    fresh = storage.put(tenant=tenant_a.tenant, kind="results", data=b"being written right now")
    two_hours_ago = time.time() - 7200
    os.utime(storage._path(orphan), (two_hours_ago, two_hours_ago))
    report = purge()
    assert report.voices == [voice]
    assert not Speaker.objects.filter(id=voice).exists()
    assert not storage._path(orphan).exists()
    assert storage._path(fresh).exists()


def test_active_tasks_are_never_purged(tenant_a):
    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]  # PENDING
    age(task_id, 400)
    assert purge().tasks == []
