"""Per-tenant quotas, enforced atomically and in constant time.

Every write that consumes a quota first locks the tenant's usage row (SELECT …
FOR UPDATE), reads the counters that ``synthesis.services.usage`` keeps, and
inserts and counts in the same transaction. Concurrent requests of one tenant
therefore queue on the lock and exactly as many fit as the limit allows; other
tenants are not blocked. No check aggregates the tenant's history: the month is
at most 31 counter rows, active tasks and stored bytes are running totals, and
voices and models are bounded by their own limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis.models import DailyUsage, Speaker, SynthesisModel, TenantUsage
from synthesis.services import usage as counters
from tenants.models import Quota, Tenant


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
    try:
        return Quota.objects.get(tenant=tenant)
    except Quota.DoesNotExist:  # tenants get theirs at creation; this covers older ones
        return Quota.objects.get_or_create(tenant=tenant)[0]


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(now: datetime) -> datetime:
    return (_month_start(now) + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class _Totals:
    """A tenant's counters and limits, as the quotas need them."""

    stored_bytes: int
    active_tasks: int
    month_characters: int
    today_tasks: int
    quota: Quota


_LIMITS = ("monthly_characters", "daily_tasks", "concurrent_tasks", "voices", "model_pairs", "stored_bytes")
# The hottest query of a task create, written once: the ORM spent about a millisecond
# compiling its subqueries on every call, and the database a hundredth of that running it.
_TOTALS_TEMPLATE = """
SELECT u.stored_bytes, u.active_tasks,
       (SELECT COALESCE(SUM(d.characters), 0) FROM {daily} d WHERE d.tenant_id = u.tenant_id AND d.day >= %s),
       (SELECT COALESCE(SUM(d.tasks), 0) FROM {daily} d WHERE d.tenant_id = u.tenant_id AND d.day = %s),
       q.id, {limits}
FROM {usage} u LEFT JOIN {quota} q ON q.tenant_id = u.tenant_id WHERE u.tenant_id = %s
"""
_NAMES = {
    "daily": DailyUsage._meta.db_table,
    "usage": TenantUsage._meta.db_table,
    "quota": Quota._meta.db_table,
    "limits": ", ".join(f"q.{name}" for name in _LIMITS),
}
_TOTALS_SQL = _TOTALS_TEMPLATE.format(**_NAMES)  # our own table and column names


def _totals(tenant: Tenant, *, locked: bool) -> _Totals:
    """The tenant's counters, locking its usage row for the rest of the transaction if
    ``locked``: stored bytes, active tasks, the month's charged characters (at most 31
    daily rows), today's tasks and its limits, in one query."""
    now = timezone.now()
    sql = _TOTALS_SQL
    if locked and connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF u"
    elif locked and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    # SQLite has no row locks: its transactions begin IMMEDIATE (settings), one writer at a time.
    params = [
        counters.db_value(DailyUsage, "day", _month_start(now).date()),
        counters.db_value(DailyUsage, "day", now.date()),
        counters.db_value(TenantUsage, "tenant", tenant.id),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:  # a tenant from before the counters, or one created without them
        TenantUsage.objects.get_or_create(tenant=tenant, defaults=counters.totals_from_rows(tenant.id))
        return _totals(tenant, locked=locked)
    counts, (quota_id, *limits) = row[:4], row[4:]
    quota = Quota(id=quota_id, tenant=tenant, **dict(zip(_LIMITS, limits, strict=True))) if quota_id else None
    return _Totals(*counts, quota=quota or quota_for(tenant))


def _tasks_uses(row: _Totals) -> dict[str, QuotaUse]:
    quota = row.quota
    now = timezone.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "monthly_characters": QuotaUse(
            "monthly_characters", quota.monthly_characters, row.month_characters, _next_month(now)
        ),
        "daily_tasks": QuotaUse("daily_tasks", quota.daily_tasks, row.today_tasks, day + timedelta(days=1)),
        "concurrent_tasks": QuotaUse("concurrent_tasks", quota.concurrent_tasks, row.active_tasks, None),
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
    """Every quota with its current use: three queries, whatever the tenant's history."""
    row = _totals(tenant, locked=False)
    uses = {**_tasks_uses(row), **_storage_uses(tenant, row.quota)}
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
    uses = _tasks_uses(_totals(tenant, locked=True))
    for name, requested in (("monthly_characters", characters), ("daily_tasks", tasks), ("concurrent_tasks", tasks)):
        if uses[name].used + requested > uses[name].limit:
            _refuse(uses[name], requested)
    if uses["stored_bytes"].used >= uses["stored_bytes"].limit:
        _refuse(uses["stored_bytes"], 0)
    counters.tasks_created(tenant, tasks=tasks, characters=characters)


def _reserve_stored(tenant: Tenant, *, kind: str, size: int) -> None:
    row = _totals(tenant, locked=True)
    quota = row.quota
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
