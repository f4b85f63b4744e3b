"""Per-tenant quotas, enforced atomically and in constant time.

Every write that consumes a quota first locks the tenant's usage row (SELECT …
FOR UPDATE), reads the counters that ``synthesis.services.usage`` keeps, and
inserts and counts in the same transaction. Concurrent requests of one tenant
therefore queue on the lock and exactly as many fit as the limit allows; other
tenants are not blocked. No check aggregates the tenant's history: the month is
at most 31 counter rows, active tasks, voices and models are bounded by their own
limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis.models import DailyUsage, Speaker, SynthesisModel, Task, TaskStatus, TenantUsage
from synthesis.services import usage as counters
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


def _totals(tenant: Tenant, *, locked: bool) -> tuple[TenantUsage, Quota]:
    """The tenant's usage row (locked for the rest of the transaction if ``locked``) and
    its limits, in one query."""
    rows = TenantUsage.objects.select_related("tenant__quota")
    if locked:
        rows = rows.select_for_update(of=("self",))
    row = rows.filter(tenant=tenant).first()
    if row is None:  # a tenant from before the counters, or one created without them
        TenantUsage.objects.get_or_create(tenant=tenant, defaults={"stored_bytes": counters.stored_bytes(tenant.id)})
        return _totals(tenant, locked=locked)
    try:
        return row, row.tenant.quota
    except Quota.DoesNotExist:
        return row, quota_for(tenant)


def _tasks_uses(tenant: Tenant, row: TenantUsage, quota: Quota) -> dict[str, QuotaUse]:
    """The task quotas and stored bytes: two queries besides the usage row."""
    now = timezone.now()
    month, day = _month_start(now), now.replace(hour=0, minute=0, second=0, microsecond=0)
    counted = DailyUsage.objects.filter(tenant=tenant, day__gte=month.date()).aggregate(
        characters=Coalesce(Sum("characters"), 0), today=Coalesce(Sum("tasks", filter=Q(day=day.date())), 0)
    )
    active = Task.objects.filter(tenant=tenant, status__in=ACTIVE).count()
    return {
        "monthly_characters": QuotaUse(
            "monthly_characters", quota.monthly_characters, counted["characters"], _next_month(now)
        ),
        "daily_tasks": QuotaUse("daily_tasks", quota.daily_tasks, counted["today"], day + timedelta(days=1)),
        "concurrent_tasks": QuotaUse("concurrent_tasks", quota.concurrent_tasks, active, None),
        "stored_bytes": QuotaUse("stored_bytes", quota.stored_bytes, row.stored_bytes, None),
    }


def _storage_uses(tenant: Tenant, quota: Quota) -> dict[str, QuotaUse]:
    voices = Speaker.objects.filter(tenant=tenant, deleted_at__isnull=True).count()
    own_models = SynthesisModel.objects.filter(tenant=tenant).count()
    return {
        "voices": QuotaUse("voices", quota.voices, voices, None),
        "models": QuotaUse("models", quota.model_pairs, own_models, None),
    }


def usage(tenant: Tenant) -> dict[str, QuotaUse]:
    """Every quota with its current use: five queries, whatever the tenant's history."""
    row, quota = _totals(tenant, locked=False)
    uses = {**_tasks_uses(tenant, row, quota), **_storage_uses(tenant, quota)}
    order = ("monthly_characters", "daily_tasks", "concurrent_tasks", "voices", "models", "stored_bytes")
    return {name: uses[name] for name in order}


def _refuse(use: QuotaUse, requested: int) -> None:
    now = timezone.now()
    retry_after = int((use.resets_at - now).total_seconds()) + 1 if use.resets_at else 60
    raise ApiError(
        "QUOTA_EXCEEDED",
        f"The {use.name.replace('_', ' ')} quota is exhausted ({use.used} of {use.limit} used)",
        details={"quota": use.name, "requested": requested, "retry_after": retry_after, **use.as_dict()},
    )


def reserve_tasks(tenant: Tenant, *, tasks: int, characters: int) -> None:
    """Refuse unless ``tasks`` more tasks of ``characters`` in all fit, else count them.
    Call inside the transaction that creates them."""
    row, quota = _totals(tenant, locked=True)
    uses = _tasks_uses(tenant, row, quota)
    for name, requested in (("monthly_characters", characters), ("daily_tasks", tasks), ("concurrent_tasks", tasks)):
        if uses[name].used + requested > uses[name].limit:
            _refuse(uses[name], requested)
    if uses["stored_bytes"].used >= uses["stored_bytes"].limit:
        _refuse(uses["stored_bytes"], 0)
    counters.tasks_created(tenant, tasks=tasks, characters=characters)


def _reserve_stored(tenant: Tenant, *, kind: str, size: int) -> None:
    row, quota = _totals(tenant, locked=True)
    use = _storage_uses(tenant, quota)[kind]
    if use.used + 1 > use.limit:
        _refuse(use, 1)
    stored = QuotaUse("stored_bytes", quota.stored_bytes, row.stored_bytes, None)
    if stored.used + size > stored.limit:
        _refuse(stored, size)
    counters.stored_bytes_changed(tenant.id, size)


def reserve_voice(tenant: Tenant, *, size: int) -> None:
    """Refuse unless one more voice of ``size`` bytes fits, else count its bytes. Call inside
    the transaction that creates it."""
    _reserve_stored(tenant, kind="voices", size=size)


def reserve_model(tenant: Tenant, *, size: int) -> None:
    _reserve_stored(tenant, kind="models", size=size)
