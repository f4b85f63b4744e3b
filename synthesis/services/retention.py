"""The retention purge: what each tenant's policy says must go, goes.

- tasks (texts, results, webhook records) older than the tenant's 7 or 30 days;
- rows of deleted voices once no task refers to them (their audio went at deletion);
- tenants' uploaded models that failed their check, after the same days;
- idempotency records past their TTL;
- data-subject exports once their link's week is over;
- files in the storage that no row refers to (orphans of crashes or races),
  once they are older than a grace period, so a write in flight is never taken.

Tasks leave their counts in the usage archive (synthesis.services.usage), so
quotas and usage charts do not forget them. Each region is purged on its own
(its job runs on the region's queue) and walks only its own storage root.

Signed result URLs are stateless (they expire by signature), so none are stored
to purge. Every step deletes by id and tolerates missing files, so a purge is
idempotent and two running at once only race to delete the same things.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from synthesis import operations, storage
from synthesis.models import Batch, IdempotencyRecord, ModelStatus, Speaker, SynthesisModel, Task
from synthesis.services import usage
from synthesis.services.subject_requests import EXPORT_LINK_TTL
from tenants.models import SubjectRequest, Tenant

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)


@dataclass
class PurgeReport:
    tasks: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    failed_models: list[str] = field(default_factory=list)
    idempotency_records: int = 0
    exports: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "tasks": len(self.tasks),
            "voices": len(self.voices),
            "failed_models": len(self.failed_models),
            "idempotency_records": self.idempotency_records,
            "exports": len(self.exports),
            "orphan_files": len(self.orphan_files),
        }


def _expired_tasks(now: datetime, tenants):
    for tenant in tenants:
        cutoff = now - timedelta(days=tenant.retention_days)
        yield from Task.objects.filter(tenant=tenant, created_at__lt=cutoff).exclude(status__in=usage.ACTIVE)


def _failed_models(now: datetime, tenants):
    for tenant in tenants:
        cutoff = now - timedelta(days=tenant.retention_days)
        yield from SynthesisModel.objects.filter(tenant=tenant, status=ModelStatus.FAILED, created_at__lt=cutoff)


def _orphans(region: str, now: datetime) -> list[str]:
    """Keys of ``region``'s objects that no row refers to, older than the grace period."""
    referenced = set()
    for row in Speaker.objects.values_list("reference_key", "profile_key"):
        referenced.update(key for key in row if key)
    referenced.update(Task.objects.exclude(result_key="").values_list("result_key", flat=True))
    referenced.update(SubjectRequest.objects.exclude(export_key="").values_list("export_key", flat=True))
    for row in SynthesisModel.objects.exclude(tenant=None).values_list("gpt_key", "sovits_key"):
        referenced.update(key for key in row if key)
    too_young = (now - ORPHAN_GRACE).timestamp()
    return [entry.name for entry in storage.region_objects(region)
            if entry.name not in referenced and entry.modified < too_young]  # fmt: skip


def _task_delete(task: Task) -> bool:
    """Delete the task, taking its result's bytes off the tenant's total in the same
    transaction (its characters stay counted). False if another purge got there first."""
    with transaction.atomic():
        _, deleted = Task.objects.filter(id=task.id).delete()
        if not deleted.get(Task._meta.label):
            return False
        usage.stored_bytes_changed(task.tenant_id, -task.result_bytes)
        IdempotencyRecord.objects.filter(resource_id=task.id).delete()
    if task.result_key:  # after the commit: a failed deletion leaves an orphan, never a dangling row
        storage.delete(object_key=task.result_key)
    return True


def purge(*, region: str | None = None, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    """Purge what the policies say must go, in ``region`` (every served region if None)."""
    now = now or timezone.now()
    regions = [region] if region else list(settings.REGIONS)
    tenants = Tenant.objects.filter(region__in=regions)
    report = PurgeReport()
    for task in _expired_tasks(now, tenants):
        if dry_run or _task_delete(task):
            report.tasks.append(str(task.id))
    deleted_voices = Speaker.objects.filter(tenant__in=tenants, deleted_at__isnull=False).exclude(
        Exists(Task.objects.filter(speaker=OuterRef("pk")))
    )
    for speaker in deleted_voices:
        report.voices.append(str(speaker.id))
        if not dry_run:
            Speaker.objects.filter(id=speaker.id).delete()
            for key in (speaker.reference_key, speaker.profile_key):
                if key:
                    storage.delete(object_key=key)
    for model in _failed_models(now, tenants):  # uploads that never became usable: their files go
        report.failed_models.append(str(model.id))
        if not dry_run:
            with transaction.atomic():
                if SynthesisModel.objects.filter(id=model.id).delete()[0]:
                    usage.stored_bytes_changed(model.tenant_id, -model.stored_bytes)
            for key in (model.gpt_key, model.sovits_key):
                storage.delete(object_key=key)
    stale = IdempotencyRecord.objects.filter(
        tenant__in=tenants, created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    )
    report.idempotency_records = stale.count()
    expired_exports = SubjectRequest.objects.filter(tenant__in=tenants, completed_at__lt=now - EXPORT_LINK_TTL).exclude(
        export_key=""
    )
    for request in expired_exports:
        report.exports.append(str(request.id))
        if not dry_run:
            SubjectRequest.objects.filter(id=request.id).update(export_key="")
            storage.delete(object_key=request.export_key)
    for name in regions:
        for key in _orphans(name, now):
            report.orphan_files.append(key)
            if not dry_run:
                storage.delete(object_key=key)
    if not dry_run:
        stale.delete()
        Batch.objects.filter(tenant__in=tenants).exclude(Exists(Task.objects.filter(batch=OuterRef("pk")))).delete()
        operations.count_purge(regions=regions, counts=report.counts())
    logger.info("retention purge of %s%s: %s", ",".join(regions), " (dry run)" if dry_run else "", report.counts())
    return report
