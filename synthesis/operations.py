"""The service's key indicators against their alert thresholds (the admin's operations page)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from synthesis.models import Task, TaskStatus

logger = logging.getLogger(__name__)
WINDOW = timedelta(hours=1)
_HITS, _MISSES = "metrics:profile-cache:hits", "metrics:profile-cache:misses"
_PURGE = "metrics:purge"
_RECONCILED = "metrics:reconciled"
RECONCILED_KINDS = ("tasks", "tasks_taken_over", "tasks_settled", "voices", "models", "webhooks", "batch_webhooks",
                    "subject_requests")  # fmt: skip


@dataclass(frozen=True)
class Indicator:
    name: str
    metric: str  # its Prometheus name, after "sovits_"
    value: float | None
    unit: str
    threshold: float
    alert_above: bool  # False: alert when below

    @property
    def alerting(self) -> bool:
        if self.value is None:
            return False
        return self.value > self.threshold if self.alert_above else self.value < self.threshold


def _incr(key: str, delta: int = 1) -> None:
    """Best effort: a count lost while Redis is away must not fail the work being counted."""
    try:
        try:
            cache.incr(key, delta)
        except ValueError:  # first count: no key yet (a lost race costs at most one count)
            cache.set(key, delta, timeout=None)
    except redis.RedisError:
        logger.warning("counter %s not updated: Redis is unavailable", key)


def _read(keys: list[str]) -> dict:
    """The counters under ``keys`` in one round trip; empty while Redis is away (see redis_up)."""
    try:
        return cache.get_many(keys)
    except redis.RedisError:
        logger.warning("counters unavailable: Redis is unavailable")
        return {}


def redis_up() -> bool:
    try:
        cache.get(_HITS)
    except redis.RedisError:
        return False
    return True


def count_profile_cache(*, hit: bool) -> None:
    """Workers count cache hits and misses in Redis, so the web process can show the rate."""
    _incr(_HITS if hit else _MISSES)


def count_purge(*, regions: list[str], counts: dict[str, int]) -> None:
    """The retention purge counts its runs and what it removed, and when each region last ran."""
    _incr(f"{_PURGE}:runs")
    for name, removed in counts.items():
        _incr(f"{_PURGE}:{name}", removed)
    for region in regions:
        try:
            cache.set(f"{_PURGE}:last:{region}", timezone.now(), timeout=None)
        except redis.RedisError:
            logger.warning("last purge of %s not recorded: Redis is unavailable", region)


def count_reconciled(counts: dict[str, int]) -> None:
    """What the reconciler had to send again: above zero, the broker lost work (or a worker died)."""
    for kind, sent in counts.items():
        _incr(f"{_RECONCILED}:{kind}", sent)


def reconciled_counts() -> dict[str, int]:
    found = _read([f"{_RECONCILED}:{kind}" for kind in RECONCILED_KINDS])
    return {kind: found.get(f"{_RECONCILED}:{kind}", 0) for kind in RECONCILED_KINDS}


def profile_cache_counts() -> tuple[int, int]:
    """(hits, misses) counted by every worker since the counters started."""
    found = _read([_HITS, _MISSES])
    return found.get(_HITS, 0), found.get(_MISSES, 0)


def purge_metrics() -> dict:
    """Totals since the counters started, and the last run per served region (None: never)."""
    names = ("runs", "tasks", "voices", "failed_models", "idempotency_records", "exports", "orphan_files")
    found = _read([f"{_PURGE}:{name}" for name in names] + [f"{_PURGE}:last:{region}" for region in settings.REGIONS])
    return {
        "totals": {name: found.get(f"{_PURGE}:{name}", 0) for name in names},
        "last_run": {region: found.get(f"{_PURGE}:last:{region}") for region in settings.REGIONS},
    }


def _hours_since_last_purge() -> float | None:
    runs = [at for at in purge_metrics()["last_run"].values() if at is not None]
    if not runs:
        return None
    return round((timezone.now() - min(runs)).total_seconds() / 3600, 2)


MIN_LOOKUPS_FOR_HIT_RATE = 50


def indicators() -> list[Indicator]:
    since = timezone.now() - WINDOW
    finished = Task.objects.filter(finished_at__gte=since)
    counts = finished.aggregate(total=Count("id"), failed=Count("id", filter=Q(status=TaskStatus.FAILED)))
    latency = (
        finished.filter(status=TaskStatus.DONE)
        .annotate(took=ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField()))
        .aggregate(avg=Avg("took"))["avg"]
    )
    hits, misses = profile_cache_counts()
    backlog = Task.objects.filter(status=TaskStatus.PENDING).count()
    # A cold cache misses by design: no rate (and so no alert) before there is traffic to judge.
    hit_rate = round(100 * hits / (hits + misses), 1) if hits + misses >= MIN_LOOKUPS_FOR_HIT_RATE else None
    error_rate = round(100 * counts["failed"] / counts["total"], 1) if counts["total"] else None
    return [
        Indicator("Queue backlog (pending tasks)", "queue_backlog_tasks", backlog, "tasks", 50, True),
        Indicator("Average synthesis latency (last hour)", "synthesis_latency_seconds",
                  latency.total_seconds() if latency else None, "s", 5, True),
        Indicator("Profile cache hit rate", "profile_cache_hit_percent", hit_rate, "%", 85, False),
        Indicator("Error rate (last hour)", "error_rate_percent", error_rate, "%", 2, True),
        # Hourly by schedule: more than two hours means the scheduler or the region's worker is down.
        Indicator("Hours since the oldest region's last retention purge", "hours_since_purge",
                  _hours_since_last_purge(), "h", 2, True),
    ]  # fmt: skip
