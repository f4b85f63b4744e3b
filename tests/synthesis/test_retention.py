from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from synthesis import storage
from synthesis.models import Speaker, Task, TaskStatus
from synthesis.services.retention import purge
from synthesis.services.runner import task_run
from tests.conftest import wait_for_task

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


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
    assert not storage.exists(old.result_key)
    assert Task.objects.filter(id=recent.id).exists()
    assert storage.exists(recent.result_key)
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
    assert "Would purge: 1 tasks, 0 voices" in out
    assert Task.objects.filter(id=task_id).exists()


def test_deleted_voices_and_orphan_files_go_and_fresh_files_stay(tenant_a):
    voice = tenant_a.ready_voice()
    tenant_a.client.delete(f"/api/v1/speakers/{voice}")
    orphan = storage.put(tenant=tenant_a.tenant, kind="results", data=b"left behind by a crash")
    report = purge()  # inside the grace period, an unreferenced file may be a write in flight
    assert report.voices == [voice]
    assert not Speaker.objects.filter(id=voice).exists()
    assert orphan not in report.orphan_files
    assert storage.exists(orphan)
    later = purge(now=timezone.now() + timedelta(hours=2))
    assert orphan in later.orphan_files
    assert not storage.exists(orphan)


def test_active_tasks_are_never_purged(tenant_a):
    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]  # PENDING
    age(task_id, 400)
    assert purge().tasks == []


def test_purged_tasks_still_count_in_the_monthly_quota_and_usage(tenant_a):
    """A 7-day policy must not hand back the characters of tasks it purged mid-month."""
    tenant_a.tenant.retention_days = 7
    tenant_a.tenant.save()
    voice, doomed = tenant_a.ready_voice(), tenant_a.ready_voice(name="doomed")
    done = tenant_a.create_task(voice, text="Twelve chars").json()["id"]
    failed = tenant_a.create_task(doomed, text="Not charged.").json()["id"]
    tenant_a.client.delete(f"/api/v1/speakers/{doomed}")
    task_run(task_id=done)  # what the worker runs: DONE
    task_run(task_id=failed)  # its voice is gone: FAILED, characters given back
    statuses = dict(Task.objects.filter(id__in=[done, failed]).values_list("id", "status"))
    assert sorted(statuses.values()) == [TaskStatus.DONE, TaskStatus.FAILED]
    before = tenant_a.client.get("/api/v1/usage").json()
    seconds = Task.objects.get(id=done).duration_seconds

    report = purge(now=timezone.now() + timedelta(days=8))

    assert sorted(report.tasks) == sorted([done, failed])
    after = tenant_a.client.get("/api/v1/usage").json()
    assert after["quotas"]["monthly_characters"]["used"] == before["quotas"]["monthly_characters"]["used"] == 12
    assert (after["characters"], after["tasks"], after["tasks_done"]) == (12, 2, 1)
    today = after["daily"][-1]
    expected = {"day": timezone.now().date().isoformat(), "tasks": 2, "done": 1, "failed": 1, "characters": 12,
                "audio_seconds": round(seconds, 3)}  # fmt: skip
    assert today == expected
    assert after["quotas"]["stored_bytes"]["used"] < before["quotas"]["stored_bytes"]["used"]  # the result went
    assert purge(now=timezone.now() + timedelta(days=8)).tasks == []  # nothing counted twice
    assert tenant_a.client.get("/api/v1/usage").json()["characters"] == 12


def test_the_daily_usage_covers_thirty_days_ending_today(tenant_a):
    voice = tenant_a.ready_voice()
    tenant_a.create_task(voice, text="Counted today.")
    daily = tenant_a.client.get("/api/v1/usage").json()["daily"]
    assert len(daily) == 30
    assert daily[-1]["day"] == timezone.now().date().isoformat()
    assert daily[0]["day"] == (timezone.now() - timedelta(days=29)).date().isoformat()
    assert daily[-1]["tasks"] == 1
    assert daily[-1]["characters"] == len("Counted today.")
    assert sum(day["tasks"] for day in daily) == 1


def test_a_purge_is_counted_in_the_metrics(tenant_a):
    from synthesis import operations

    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]
    Task.objects.filter(id=task_id).update(status=TaskStatus.DONE)
    age(task_id, 40)
    before = operations.purge_metrics()
    purge(dry_run=True)
    assert operations.purge_metrics()["totals"] == before["totals"]  # a dry run counts nothing
    purge()
    after = operations.purge_metrics()
    assert after["totals"]["runs"] == before["totals"]["runs"] + 1
    assert after["totals"]["tasks"] == before["totals"]["tasks"] + 1
    assert all(at is not None for at in after["last_run"].values())
    hours = next(i for i in operations.indicators() if "retention purge" in i.name)
    assert hours.value is not None
    assert hours.value < 0.1
    assert not hours.alerting


def test_exports_go_when_their_link_week_is_over_and_not_before(tenant_a):
    from tenants.models import SubjectRequest

    def export(completed_days_ago: float) -> SubjectRequest:
        key = storage.put(tenant=tenant_a.tenant, kind="exports", data=b"PK zip")
        return SubjectRequest.objects.create(
            tenant=tenant_a.tenant, tenant_slug=tenant_a.tenant.slug, kind="access", status="DONE",
            export_key=key, due_at=timezone.now(), completed_at=timezone.now() - timedelta(days=completed_days_ago),
        )  # fmt: skip

    old, fresh = export(8), export(2)
    old_key = old.export_key
    report = purge(now=timezone.now() + timedelta(hours=2))  # past the orphan grace: only the row keeps a file
    assert report.exports == [str(old.id)]
    old.refresh_from_db()
    assert old.export_key == ""
    assert not storage.exists(old_key)
    assert storage.exists(fresh.export_key)
    assert fresh.export_key not in report.orphan_files
