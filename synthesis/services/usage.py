"""Usage history: live tasks plus what the retention purge archived as counts.

A 7-day policy deletes tasks long before the month (or a 30-day chart) is over;
the purge therefore adds each task it deletes to :class:`PurgedUsage`, in the
transaction that deletes it, and every count here is live rows + that archive.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from synthesis.models import PurgedUsage, Task, TaskStatus
from tenants.models import Tenant

REFUNDED = (TaskStatus.FAILED, TaskStatus.CANCELLED)  # their characters are given back


def archive(task: Task) -> None:
    """Count ``task`` (finished, about to be deleted) in the archive of its day."""
    row, _ = PurgedUsage.objects.get_or_create(tenant_id=task.tenant_id, day=task.created_at.date())
    PurgedUsage.objects.filter(pk=row.pk).update(
        tasks=F("tasks") + 1,
        tasks_done=F("tasks_done") + int(task.status == TaskStatus.DONE),
        tasks_failed=F("tasks_failed") + int(task.status == TaskStatus.FAILED),
        characters=F("characters") + (0 if task.status in REFUNDED else task.characters),
        audio_seconds=F("audio_seconds") + (task.duration_seconds or 0),
    )


def archived(tenant: Tenant, since: date) -> dict[str, int]:
    """Tasks, done tasks and charged characters the purge archived from ``since`` on."""
    return PurgedUsage.objects.filter(tenant=tenant, day__gte=since).aggregate(
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
    live = (
        Task.objects.filter(tenant=tenant, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            tasks=Count("id"),
            done=Count("id", filter=Q(status=TaskStatus.DONE)),
            failed=Count("id", filter=Q(status=TaskStatus.FAILED)),
            characters=Coalesce(Sum("characters", filter=~Q(status__in=REFUNDED)), 0),
            audio_seconds=Coalesce(Sum("duration_seconds"), 0.0),
        )
    )
    for row in live:
        _add(series[row["day"]], row)
    for row in PurgedUsage.objects.filter(tenant=tenant, day__gte=first).values():
        _add(series[row["day"]], {**row, "done": row["tasks_done"], "failed": row["tasks_failed"]})
    return [{"day": day.isoformat(), **counts} for day, counts in series.items()]


def _add(into: dict, row: dict) -> None:
    for name in into:
        into[name] += row[name]
