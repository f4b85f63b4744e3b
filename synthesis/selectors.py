"""Reads. Every lookup takes the tenant: another tenant's object is simply not found."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from sovits_site.errors import ApiError
from synthesis.models import Speaker, Task
from tenants.models import Tenant


def speaker_list(*, tenant: Tenant) -> QuerySet[Speaker]:
    return Speaker.objects.filter(tenant=tenant, deleted_at__isnull=True).order_by("-created_at")


def speaker_get(*, tenant: Tenant, speaker_id: uuid.UUID | str) -> Speaker:
    speaker = speaker_list(tenant=tenant).filter(id=speaker_id).first()
    if speaker is None:
        raise ApiError("NOT_FOUND", "Speaker not found", details={"speaker_id": str(speaker_id)})
    return speaker


def task_list(*, tenant: Tenant) -> QuerySet[Task]:
    return Task.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def task_get(*, tenant: Tenant, task_id: uuid.UUID | str) -> Task:
    task = task_list(tenant=tenant).filter(id=task_id).first()
    if task is None:
        raise ApiError("NOT_FOUND", "Task not found", details={"task_id": str(task_id)})
    return task
