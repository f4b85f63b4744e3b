"""Usage counters: kept where the rows they count are written, read in constant time.

Every write that changes what a tenant has used updates a counter in the same
transaction: creating tasks adds to the day's :class:`DailyUsage` row, finishing
one counts it done or failed and gives the characters of failed and cancelled
tasks back (both also move :class:`TenantUsage.active_tasks`), and storing or
deleting a result, a voice or a model moves :class:`TenantUsage.stored_bytes`.
Nothing here aggregates a tenant's history, and the retention purge (which
deletes tasks, not counters) cannot make a tenant forget its month.

Lock order, to stay clear of deadlocks: a writer that touches both takes the
``TenantUsage`` row before a ``DailyUsage`` row.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from synthesis.models import DailyUsage, Speaker, SynthesisModel, Task, TaskStatus, TenantUsage
from tenants.models import Tenant

REFUNDED = (TaskStatus.FAILED, TaskStatus.CANCELLED)  # their characters are given back
ACTIVE = (TaskStatus.PENDING, TaskStatus.PROCESSING)


# Every task create runs these; written once, they cost a thirtieth of the ORM's F() updates.
_ACTIVE_SQL = f"UPDATE {TenantUsage._meta.db_table} SET active_tasks = active_tasks + %s WHERE tenant_id = %s"  # noqa: S608
_DAY_SQL = (
    f"UPDATE {DailyUsage._meta.db_table} SET tasks = tasks + %s, characters = characters + %s"  # noqa: S608
    " WHERE tenant_id = %s AND day = %s"
)


def db_value(model, field: str, value):
    """``value`` as the database takes it for ``model.field`` (for the statements written out)."""
    return model._meta.get_field(field).get_db_prep_value(value, connection)


def tasks_created(tenant: Tenant, *, tasks: int, characters: int) -> None:
    """Count new tasks on today's row. Call under the tenant's lock (``quotas.reserve_tasks``),
    which makes the update-or-create below free of races."""
    day = timezone.now().date()
    tenant_id = db_value(TenantUsage, "tenant", tenant.id)
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_SQL, [tasks, tenant_id])
        cursor.execute(_DAY_SQL, [tasks, characters, tenant_id, db_value(DailyUsage, "day", day)])
        counted = cursor.rowcount
    if not counted:
        DailyUsage.objects.create(tenant=tenant, day=day, tasks=tasks, characters=characters)


def task_finished(task: Task, status: str, *, duration_seconds: float | None = None, result_bytes: int = 0) -> None:
    """Count ``task`` as having just ended in ``status``. Call in the transaction whose
    conditional update moved it out of PENDING/PROCESSING, and only when that update
    matched, so that no task is counted twice."""
    _totals_changed(task.tenant_id, stored_bytes=result_bytes, active_tasks=-1)
    fields = {}
    if status == TaskStatus.DONE:
        fields = {"tasks_done": F("tasks_done") + 1, "audio_seconds": F("audio_seconds") + (duration_seconds or 0)}
    elif status == TaskStatus.FAILED:
        fields = {"tasks_failed": F("tasks_failed") + 1}
    if status in REFUNDED:
        fields["characters"] = F("characters") - task.characters
    if fields:
        DailyUsage.objects.filter(tenant_id=task.tenant_id, day=task.created_at.date()).update(**fields)


def stored_bytes_changed(tenant_id, delta: int) -> None:
    """Add ``delta`` (negative when something is deleted) to the tenant's stored bytes."""
    if delta:
        _totals_changed(tenant_id, stored_bytes=delta)


def active_task_deleted(task: Task) -> None:
    """``task`` was deleted before it finished (erasure): it no longer counts as active."""
    if task.status in ACTIVE:
        _totals_changed(task.tenant_id, active_tasks=-1)


def _totals_changed(tenant_id, **deltas: int) -> None:
    fields = {name: F(name) + delta for name, delta in deltas.items() if delta}
    if fields and not TenantUsage.objects.filter(tenant_id=tenant_id).update(**fields):
        # No row yet (a tenant from before the counters): made from the rows, which already
        # include this change.
        TenantUsage.objects.get_or_create(tenant_id=tenant_id, defaults=totals_from_rows(tenant_id))


def since(tenant: Tenant, first: date) -> dict[str, int]:
    """Tasks, done tasks and charged characters created from ``first`` on (at most a
    month of rows)."""
    return DailyUsage.objects.filter(tenant=tenant, day__gte=first).aggregate(
        tasks=Coalesce(Sum("tasks"), 0), done=Coalesce(Sum("tasks_done"), 0), characters=Coalesce(Sum("characters"), 0)
    )


def daily(tenant: Tenant, *, days: int = 30) -> list[dict]:
    """One entry per UTC day, oldest first, ending today: tasks, done, failed, characters, audio seconds."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    series = {
        first + timedelta(days=n): {"tasks": 0, "done": 0, "failed": 0, "characters": 0, "audio_seconds": 0.0}
        for n in range(days)
    }
    for row in DailyUsage.objects.filter(tenant=tenant, day__gte=first, day__lte=today):
        series[row.day] = {
            "tasks": row.tasks,
            "done": row.tasks_done,
            "failed": row.tasks_failed,
            "characters": row.characters,
            "audio_seconds": round(row.audio_seconds, 3),
        }
    return [{"day": day.isoformat(), **counts} for day, counts in series.items()]


def stored_bytes(tenant_id) -> int:
    """What the tenant stores, summed from the rows themselves (for ``recount``, not the hot path)."""
    results = Task.objects.filter(tenant_id=tenant_id).aggregate(n=Coalesce(Sum("result_bytes"), 0))["n"]
    voices = Speaker.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True).aggregate(
        n=Coalesce(Sum("reference_bytes"), 0)
    )["n"]
    models = SynthesisModel.objects.filter(tenant_id=tenant_id).aggregate(n=Coalesce(Sum("stored_bytes"), 0))["n"]
    return results + voices + models


def totals_from_rows(tenant_id) -> dict[str, int]:
    """The tenant's totals summed from the rows (for repairs and first use, not the hot path)."""
    return {
        "stored_bytes": stored_bytes(tenant_id),
        "active_tasks": Task.objects.filter(tenant_id=tenant_id, status__in=ACTIVE).count(),
    }


def recount(tenant: Tenant) -> dict:
    """Rebuild the counters from the rows where the rows are complete: the tenant's totals
    always, and the days inside the tenant's retention window (the purge has deleted nothing there).
    For repairs after hand-made changes to the database; returns what changed."""
    changed = {}
    totals = totals_from_rows(tenant.id)
    row, _ = TenantUsage.objects.get_or_create(tenant=tenant, defaults=totals)
    for name, value in totals.items():
        if getattr(row, name) != value:
            changed[name] = (getattr(row, name), value)
    TenantUsage.objects.filter(tenant=tenant).update(**totals)
    first = timezone.now().date() - timedelta(days=tenant.retention_days - 1)
    live = (
        Task.objects.filter(tenant=tenant, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            tasks=Count("id"),
            tasks_done=Count("id", filter=Q(status=TaskStatus.DONE)),
            tasks_failed=Count("id", filter=Q(status=TaskStatus.FAILED)),
            characters=Coalesce(Sum("characters", filter=~Q(status__in=REFUNDED)), 0),
            audio_seconds=Coalesce(Sum("duration_seconds"), 0.0),
        )
    )
    counted = {row.day: row for row in DailyUsage.objects.filter(tenant=tenant, day__gte=first)}
    for day_counts in live:
        day = day_counts.pop("day")
        row = counted.pop(day, None)
        day_counts["audio_seconds"] = round(day_counts["audio_seconds"], 3)
        now = {name: getattr(row, name) for name in day_counts} if row else None
        if now is not None:
            now["audio_seconds"] = round(now["audio_seconds"], 3)
        if now != day_counts:
            changed[day.isoformat()] = (now, day_counts)
            DailyUsage.objects.update_or_create(tenant=tenant, day=day, defaults=day_counts)
    for day, row in counted.items():  # counters of days that have no task left
        changed[day.isoformat()] = (row.tasks, 0)
        row.delete()
    return changed
