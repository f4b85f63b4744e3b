"""The reconciler: sends again whatever work should be moving and is not.

The database records every piece of accepted work before anything is
enqueued; Redis only rings the bell, and a bell can be lost (Redis restarted
without persistence, flushed, unreachable when the job was sent). Every
minute the scheduler enqueues this job for each region; it compares what the
rows say should be moving with what the broker holds, and sends the missing
jobs again:

- tasks (and batch items) PENDING for longer than the grace period;
- tasks PROCESSING whose worker stopped heartbeating (a cancelled one is
  cancelled now; one whose workers died ``TASK_MAX_ATTEMPTS`` times fails);
- voices still being profiled, and models registered but not yet checked;
- webhooks due (first attempts and retries), of tasks and of completed batches;
- data-subject requests received, or abandoned by a worker that died.

Sending again is always safe: every job claims its work with a conditional
update, so a duplicate does nothing. The scans read only unfinished rows
(partial indexes), never a tenant's history.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis import dispatch, live_audio, operations, webhooks
from synthesis.events import publish_task
from synthesis.models import Batch, ModelStatus, Speaker, SpeakerStatus, SynthesisModel, Task, TaskStatus
from synthesis.services import usage
from synthesis.services.batches import batch_item_ended
from synthesis.services.subject_requests import abandoned_before
from synthesis.services.tasks import lease_cutoff, task_job
from tenants.models import SubjectRequest

logger = logging.getLogger(__name__)


def reconcile(*, region: str) -> dict[str, int]:
    """One pass for ``region``; returns what it sent again (or settled), by kind."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.RECONCILE_GRACE_SECONDS)
    # The broker first: work sent after this snapshot is younger than the grace, or a harmless duplicate.
    waiting = dispatch.waiting(region)
    counts: Counter[str] = Counter()

    def ensure(kind: str, job: str, arg: str) -> None:
        if (job, arg) not in waiting and dispatch.send(job, region, arg):
            waiting.add((job, arg))
            counts[kind] += 1

    in_region = Q(tenant__region=region)
    for task in (
        Task.objects.filter(in_region, status=TaskStatus.PENDING, created_at__lt=grace)
        .select_related("speaker")
        .only("id", "batch_id", "priority", "speaker__engine")
    ):
        ensure("tasks", *task_job(task))
    abandoned = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=lease_cutoff())
    for task in Task.objects.select_related("tenant", "speaker").filter(
        in_region, abandoned, status=TaskStatus.PROCESSING
    ):
        if task.cancel_requested or task.attempts >= settings.TASK_MAX_ATTEMPTS:
            counts["tasks_settled"] += _settle(task)
        else:
            ensure("tasks_taken_over", *task_job(task))
    for speaker_id, engine in Speaker.objects.filter(
        in_region, status=SpeakerStatus.PROCESSING, deleted_at__isnull=True, created_at__lt=grace
    ).values_list("id", "engine"):
        ensure("voices", dispatch.engine_job("profile", engine), str(speaker_id))
    # Base models (no tenant) are checked by the default region's workers.
    models = Q(tenant__region=region) | (Q(tenant__isnull=True) if region == settings.DEFAULT_REGION else Q(pk=None))
    for model_id, engine in SynthesisModel.objects.filter(
        models, status=ModelStatus.PROCESSING, created_at__lt=grace
    ).values_list("id", "engine"):
        ensure("models", dispatch.engine_job("model_check", engine), str(model_id))
    for task_id in Task.objects.filter(in_region, webhook_due_at__lt=grace).values_list("id", flat=True):
        ensure("webhooks", "webhook", str(task_id))
    for batch_id in Batch.objects.filter(in_region, webhook_due_at__lt=grace).values_list("id", flat=True):
        ensure("batch_webhooks", "batch_webhook", str(batch_id))
    received = Q(status=SubjectRequest.Status.RECEIVED, created_at__lt=grace)
    dropped = Q(status=SubjectRequest.Status.PROCESSING, started_at__lt=abandoned_before())
    for request_id in SubjectRequest.objects.filter(in_region, received | dropped).values_list("id", flat=True):
        ensure("subject_requests", "subject_request", str(request_id))

    if counts:
        logger.warning("reconciler (%s): sent again or settled %s", region, dict(counts))
    operations.count_reconciled(counts)
    return dict(counts)


def _settle(task: Task) -> int:
    """Finish an abandoned task that must not run again: cancelled, or poison."""
    now = timezone.now()
    if task.cancel_requested:
        fields = {"status": TaskStatus.CANCELLED}
    else:
        error = ApiError("WORKER_LOST", details={"attempts": task.attempts})
        fields = {"status": TaskStatus.FAILED, "error": error.as_dict()}
        if task.callback_url:
            fields["webhook_due_at"] = now
    # Conditional on the claim we saw: a worker that claims it meanwhile wins.
    with transaction.atomic():
        settled = Task.objects.filter(id=task.id, status=TaskStatus.PROCESSING, attempts=task.attempts).update(
            finished_at=now, updated_at=now, heartbeat_at=None, worker="", **fields
        )
        if settled:
            usage.task_finished(task, fields["status"])
            batch_item_ended(task)
    if settled:
        task.refresh_from_db()
        publish_task(task)
        live_audio.publish_end(task)
        if task.webhook_due_at is not None:
            webhooks.enqueue(task)
    return settled
