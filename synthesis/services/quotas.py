"""Per-tenant quotas, enforced atomically.

Every write that consumes a quota first locks the tenant's quota row (SELECT …
FOR UPDATE), then counts current use from the rows themselves and inserts in
the same transaction. Concurrent requests of one tenant therefore queue on the
lock and exactly as many fit as the limit allows; other tenants are not
blocked. Use is counted from the data (not from counters that could drift), so
a task that fails or is cancelled gives its characters back by itself. Tasks the
retention purge has deleted this month count through the usage archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis.models import Speaker, SynthesisModel, Task, TaskStatus
from synthesis.services.usage import REFUNDED, archived
from tenants.models import Quota, Tenant

ACTIVE = (TaskStatus.PENDING, TaskStatus.PROCESSING)


@dataclass(frozen=True)
class QuotaUse:
    name: str
    limit: int
    used: int
    resets_at: datetime | None  # None: frees up as work finishes or data is deleted

    def as_dict(self) -> dict:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": max(0, self.limit - self.used),
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
        }


def quota_for(tenant: Tenant) -> Quota:
    quota, _ = Quota.objects.get_or_create(tenant=tenant)
    return quota


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(now: datetime) -> datetime:
    return (_month_start(now) + timedelta(days=32)).replace(day=1)


def usage(tenant: Tenant, quota: Quota | None = None) -> dict[str, QuotaUse]:
    quota = quota or quota_for(tenant)
    now = timezone.now()
    month, day = _month_start(now), now.replace(hour=0, minute=0, second=0, microsecond=0)
    tasks = Task.objects.filter(tenant=tenant).aggregate(
        characters=Sum("characters", filter=Q(created_at__gte=month) & ~Q(status__in=REFUNDED)),
        today=Count("id", filter=Q(created_at__gte=day)),
        active=Count("id", filter=Q(status__in=ACTIVE)),
        result_bytes=Sum("result_bytes"),
    )
    # Live rows first, then the archive: a purge moving a task in between is counted twice
    # for one request (erring towards refusing), never missed.
    characters = (tasks["characters"] or 0) + archived(tenant, month.date())["characters"]
    voices = Speaker.objects.filter(tenant=tenant, deleted_at__isnull=True).aggregate(
        count=Count("id"), bytes=Sum("reference_bytes")
    )
    own_models = SynthesisModel.objects.filter(tenant=tenant).aggregate(count=Count("id"), bytes=Sum("stored_bytes"))
    stored = (tasks["result_bytes"] or 0) + (voices["bytes"] or 0) + (own_models["bytes"] or 0)
    return {
        "monthly_characters": QuotaUse("monthly_characters", quota.monthly_characters, characters, _next_month(now)),
        "daily_tasks": QuotaUse("daily_tasks", quota.daily_tasks, tasks["today"], day + timedelta(days=1)),
        "concurrent_tasks": QuotaUse("concurrent_tasks", quota.concurrent_tasks, tasks["active"], None),
        "voices": QuotaUse("voices", quota.voices, voices["count"], None),
        "models": QuotaUse("models", quota.model_pairs, own_models["count"], None),
        "stored_bytes": QuotaUse("stored_bytes", quota.stored_bytes, stored, None),
    }


def _refuse(use: QuotaUse, requested: int) -> None:
    now = timezone.now()
    retry_after = int((use.resets_at - now).total_seconds()) + 1 if use.resets_at else 60
    raise ApiError(
        "QUOTA_EXCEEDED",
        f"The {use.name.replace('_', ' ')} quota is exhausted ({use.used} of {use.limit} used)",
        details={"quota": use.name, "requested": requested, "retry_after": retry_after, **use.as_dict()},
    )


def lock(tenant: Tenant) -> Quota:
    """Take the tenant's quota lock for the rest of the current transaction."""
    quota_for(tenant)
    return Quota.objects.select_for_update().get(tenant=tenant)


def reserve_tasks(tenant: Tenant, *, tasks: int, characters: int) -> None:
    """Refuse unless ``tasks`` more tasks of ``characters`` in all fit. Call inside the
    transaction that creates them."""
    uses = usage(tenant, lock(tenant))
    for name, requested in (("monthly_characters", characters), ("daily_tasks", tasks), ("concurrent_tasks", tasks)):
        if uses[name].used + requested > uses[name].limit:
            _refuse(uses[name], requested)
    if uses["stored_bytes"].used >= uses["stored_bytes"].limit:
        _refuse(uses["stored_bytes"], 0)


def reserve_voice(tenant: Tenant, *, size: int) -> None:
    uses = usage(tenant, lock(tenant))
    if uses["voices"].used + 1 > uses["voices"].limit:
        _refuse(uses["voices"], 1)
    if uses["stored_bytes"].used + size > uses["stored_bytes"].limit:
        _refuse(uses["stored_bytes"], size)


def reserve_model(tenant: Tenant, *, size: int) -> None:
    uses = usage(tenant, lock(tenant))
    if uses["models"].used + 1 > uses["models"].limit:
        _refuse(uses["models"], 1)
    if uses["stored_bytes"].used + size > uses["stored_bytes"].limit:
        _refuse(uses["stored_bytes"], size)
