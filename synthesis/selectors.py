"""Reads. Every lookup takes the tenant: another tenant's object is simply not found."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis.models import Batch, Speaker, SynthesisModel, Task, TaskStatus, TaskTimestamps, WebhookDelivery
from tenants.models import Tenant


def speaker_list(*, tenant: Tenant) -> QuerySet[Speaker]:
    return Speaker.objects.filter(tenant=tenant, deleted_at__isnull=True).order_by("-created_at")


def speaker_get(*, tenant: Tenant, speaker_id: uuid.UUID | str, with_transcript: bool = True) -> Speaker:
    """One live voice by its key. Without ``with_transcript`` the encrypted reference text is
    left undecrypted (read on access): what a task create needs, on every create."""
    speakers = Speaker.objects.all() if with_transcript else Speaker.objects.defer("reference_text")
    try:
        return speakers.get(tenant=tenant, id=speaker_id, deleted_at__isnull=True)
    except Speaker.DoesNotExist:
        raise ApiError("NOT_FOUND", "Speaker not found", details={"speaker_id": str(speaker_id)}) from None


def model_list(*, tenant: Tenant, engine: str | None = None) -> QuerySet[SynthesisModel]:
    """The models ``tenant`` may use: the base models and its own."""
    models = SynthesisModel.objects.filter(Q(tenant__isnull=True) | Q(tenant=tenant)).order_by("-is_default", "name")
    return models.filter(engine=engine) if engine else models


def model_get(*, tenant: Tenant, model_id: uuid.UUID | str) -> SynthesisModel:
    model = model_list(tenant=tenant).filter(id=model_id).first()
    if model is None:
        raise ApiError("NOT_FOUND", "Model not found", details={"model_id": str(model_id)})
    return model


def task_list(
    *,
    tenant: Tenant,
    status: str | None = None,
    speaker_id: uuid.UUID | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Task]:
    tasks = Task.objects.filter(tenant=tenant)
    if status:
        tasks = tasks.filter(status=status)
    if speaker_id:
        tasks = tasks.filter(speaker_id=speaker_id)
    if created_after:
        tasks = tasks.filter(created_at__gte=created_after)
    if created_before:
        tasks = tasks.filter(created_at__lt=created_before)
    return tasks.order_by("-created_at", "-id")


def batch_get(*, tenant: Tenant, batch_id: uuid.UUID | str) -> Batch:
    batch = Batch.objects.filter(tenant=tenant, id=batch_id).first()
    if batch is None:
        raise ApiError("NOT_FOUND", "Batch not found", details={"batch_id": str(batch_id)})
    return batch


def batch_status(statuses: list[str]) -> str:
    """A batch's status from its items': PENDING until one starts; PROCESSING while any is
    unfinished; then DONE, FAILED (every item failed or was cancelled) or PARTIAL."""
    if all(s == TaskStatus.PENDING for s in statuses):
        return "PENDING"
    if any(s in (TaskStatus.PENDING, TaskStatus.PROCESSING) for s in statuses):
        return "PROCESSING"
    if all(s == TaskStatus.DONE for s in statuses):
        return "DONE"
    return "PARTIAL" if TaskStatus.DONE in statuses else "FAILED"


def webhook_deliveries(*, task: Task) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(task=task).order_by("created_at"))


def task_get(*, tenant: Tenant, task_id: uuid.UUID | str) -> Task:
    try:
        return Task.objects.get(tenant=tenant, id=task_id)  # no ordering: one row by its key
    except Task.DoesNotExist:
        raise ApiError("NOT_FOUND", "Task not found", details={"task_id": str(task_id)}) from None


def task_require_done(*, task: Task) -> None:
    """What a read of a task's result (audio, words) answers before or instead of DONE:
    FAILED and CANCELLED tasks will never have one (not retryable), others may later."""
    if task.status == TaskStatus.FAILED:
        raise ApiError("TASK_FAILED", details={"task_id": str(task.id), "error": task.error})
    if task.status == TaskStatus.CANCELLED:
        raise ApiError("TASK_CANCELLED", details={"task_id": str(task.id), "status": task.status})
    if task.status != TaskStatus.DONE:
        raise ApiError("TASK_NOT_DONE", f"The task is {task.status}", details={"task_id": str(task.id),
                                                                               "status": task.status})  # fmt: skip


def task_words(*, task: Task) -> list[dict]:
    """A DONE task's word timestamps: each word with its start and end (seconds) and its
    character span in the task's text."""
    task_require_done(task=task)
    stored = TaskTimestamps.objects.filter(task=task).values_list("words", flat=True).first()
    if stored is None:
        raise ApiError("NOT_FOUND", "This task was made before word timestamps were recorded",
                       details={"task_id": str(task.id)})  # fmt: skip
    text = task.text
    return [{"word": text[a:b], "start": start, "end": end, "text_start": a, "text_end": b}
            for start, end, a, b in stored]  # fmt: skip


def usage_this_month(*, tenant: Tenant) -> dict:
    """Characters and tasks since the first of this month (UTC) and per day for the last
    30, live voices and quotas. Tasks the retention purge deleted still count."""
    from synthesis.services import quotas, usage

    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = usage.since(tenant, start.date())
    uses = quotas.usage(tenant)
    return {
        "period_start": start.isoformat(),
        "characters": uses["monthly_characters"].used,  # charged: counted at create, failed ones given back
        "tasks": month["tasks"],
        "tasks_done": month["done"],
        "voices": uses["voices"].used,
        "quotas": {name: use.as_dict() for name, use in uses.items()},
        "daily": usage.daily(tenant),
    }


def speaker_by_reference(*, tenant: Tenant, reference: str) -> Speaker:
    """A voice named by its id or, as compatible clients do, by its name (case-insensitive)."""
    voices = speaker_list(tenant=tenant)
    try:
        speaker = voices.filter(id=uuid.UUID(reference)).first()
    except ValueError:
        speaker = voices.filter(name__iexact=reference.strip()).first()
    if speaker is None:
        raise ApiError("NOT_FOUND", "No voice of yours has this name or id", details={"voice": reference})
    return speaker
