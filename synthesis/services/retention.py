"""The retention purge: what each tenant's policy says must go, goes.

- tasks (texts, results, webhook records) older than the tenant's 7 or 30 days;
- rows of deleted voices once no task refers to them (their audio went at deletion);
- idempotency records past their TTL;
- files in the storage that no row refers to (orphans of crashes or races),
  once they are older than a grace period, so a write in flight is never taken.

Signed result URLs are stateless (they expire by signature), so none are stored
to purge. Every step deletes by id and tolerates missing files, so a purge is
idempotent and two running at once only race to delete the same things.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from synthesis import storage
from synthesis.models import Batch, IdempotencyRecord, Speaker, Task, TaskStatus
from tenants.models import Tenant

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)
_ACTIVE = (TaskStatus.PENDING, TaskStatus.PROCESSING)


@dataclass
class PurgeReport:
    tasks: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    idempotency_records: int = 0
    orphan_files: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "tasks": len(self.tasks),
            "voices": len(self.voices),
            "idempotency_records": self.idempotency_records,
            "orphan_files": len(self.orphan_files),
        }


def _expired_tasks(now: datetime):
    for tenant in Tenant.objects.all():
        cutoff = now - timedelta(days=tenant.retention_days)
        yield from Task.objects.filter(tenant=tenant, created_at__lt=cutoff).exclude(status__in=_ACTIVE)


def _orphans(now: datetime) -> list[Path]:
    root = Path(settings.STORAGE_ROOT)
    if not root.exists():
        return []
    referenced = set()
    for row in Speaker.objects.values_list("reference_key", "profile_key"):
        referenced.update(key for key in row if key)
    referenced.update(Task.objects.exclude(result_key="").values_list("result_key", flat=True))
    too_young = time.time() - ORPHAN_GRACE.total_seconds()
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).as_posix() not in referenced and path.stat().st_mtime < too_young
    ]


def purge(*, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    now = now or timezone.now()
    report = PurgeReport()
    for task in _expired_tasks(now):
        report.tasks.append(str(task.id))
        if not dry_run:
            if task.result_key:
                storage.delete(object_key=task.result_key)
            IdempotencyRecord.objects.filter(resource_id=task.id).delete()
            Task.objects.filter(id=task.id).delete()
    deleted_voices = Speaker.objects.filter(deleted_at__isnull=False).exclude(
        Exists(Task.objects.filter(speaker=OuterRef("pk")))
    )
    for speaker in deleted_voices:
        report.voices.append(str(speaker.id))
        if not dry_run:
            for key in (speaker.reference_key, speaker.profile_key):
                if key:
                    storage.delete(object_key=key)
            Speaker.objects.filter(id=speaker.id).delete()
    stale = IdempotencyRecord.objects.filter(created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS))
    report.idempotency_records = stale.count()
    for path in _orphans(now):
        report.orphan_files.append(str(path))
        if not dry_run:
            path.unlink(missing_ok=True)
    if not dry_run:
        stale.delete()
        Batch.objects.exclude(Exists(Task.objects.filter(batch=OuterRef("pk")))).delete()
    logger.info("retention purge%s: %s", " (dry run)" if dry_run else "", report.counts())
    return report
