"""The service's key indicators against their alert thresholds (the admin's operations page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from synthesis.models import Task, TaskStatus

WINDOW = timedelta(hours=1)
_HITS, _MISSES = "metrics:profile-cache:hits", "metrics:profile-cache:misses"


@dataclass(frozen=True)
class Indicator:
    name: str
    value: float | None
    unit: str
    threshold: float
    alert_above: bool  # False: alert when below

    @property
    def alerting(self) -> bool:
        if self.value is None:
            return False
        return self.value > self.threshold if self.alert_above else self.value < self.threshold


def count_profile_cache(*, hit: bool) -> None:
    """Workers count cache hits and misses in Redis, so the web process can show the rate."""
    key = _HITS if hit else _MISSES
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=None)


def indicators() -> list[Indicator]:
    since = timezone.now() - WINDOW
    finished = Task.objects.filter(finished_at__gte=since)
    counts = finished.aggregate(total=Count("id"), failed=Count("id", filter=Q(status=TaskStatus.FAILED)))
    latency = (
        finished.filter(status=TaskStatus.DONE)
        .annotate(took=ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField()))
        .aggregate(avg=Avg("took"))["avg"]
    )
    hits, misses = cache.get(_HITS, 0), cache.get(_MISSES, 0)
    return [
        Indicator("Queue backlog (pending tasks)", Task.objects.filter(status=TaskStatus.PENDING).count(), "tasks",
                  50, True),
        Indicator("Average synthesis latency (last hour)", latency.total_seconds() if latency else None, "s", 5, True),
        Indicator("Profile cache hit rate", round(100 * hits / (hits + misses), 1) if hits + misses else None, "%",
                  85, False),
        Indicator("Error rate (last hour)",
                  round(100 * counts["failed"] / counts["total"], 1) if counts["total"] else None, "%", 2, True),
    ]  # fmt: skip
