"""Signed webhooks for finished tasks (and completed batches), as the Standard Webhooks
scheme specifies.

Each event has one ``webhook-id``, kept on every retry so the receiver can drop
duplicates; ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>`` of
``id.timestamp.body`` under the tenant's ``whsec_`` secret (the
``standardwebhooks`` library signs, receivers can verify with it too). Failed
deliveries (non-2xx, timeout, refused address) are retried with exponential
backoff and full jitter, up to a cap; every attempt is recorded.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from synthesis import dispatch
from synthesis.models import Batch, Task, TaskStatus, WebhookDelivery
from synthesis.safe_http import BlockedAddress, guarded_client
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def tenant_secret(tenant: Tenant) -> str:
    """The tenant's signing secret, created on first use (under a row lock, so two
    workers never sign one tenant's events with two different new secrets)."""
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(id=tenant.id)
        if not locked.webhook_secret:
            locked.webhook_secret = new_secret()
            locked.save(update_fields=["webhook_secret"])
    tenant.webhook_secret = locked.webhook_secret
    return locked.webhook_secret


def rotate_secret(tenant: Tenant) -> str:
    tenant.webhook_secret = new_secret()
    tenant.save(update_fields=["webhook_secret"])
    return tenant.webhook_secret


def task_event(task: Task, *, result_url: str | None) -> dict:
    event_type = "task.completed" if task.status == TaskStatus.DONE else f"task.{task.status.lower()}"
    return {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": {
            "task_id": str(task.id),
            "batch_id": str(task.batch_id) if task.batch_id else None,
            "status": task.status,
            "result_url": result_url,
            "error": task.error,
        },
    }


def batch_event(batch: Batch, tasks: list[Task]) -> dict:
    """``batch.completed``: sent once, when the last of the batch's items has ended."""
    from synthesis.results import signed_result_url
    from synthesis.selectors import batch_status

    statuses = [task.status for task in tasks]
    return {
        "type": "batch.completed",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "batch_id": str(batch.id),
            "status": batch_status(statuses),
            "total": len(tasks),
            "done": statuses.count(TaskStatus.DONE),
            "failed": statuses.count(TaskStatus.FAILED),
            "cancelled": statuses.count(TaskStatus.CANCELLED),
            "tasks": [
                {
                    "task_id": str(task.id),
                    "status": task.status,
                    "result_url": signed_result_url(task) if task.status == TaskStatus.DONE else None,
                    "error": task.error,
                }
                for task in tasks
            ],
        },
    }


def event_id(task: Task) -> str:
    """A task has one final event; its id is the same on every attempt and every re-send."""
    return f"msg_{task.id.hex}"


def batch_event_id(batch: Batch) -> str:
    return f"msg_batch_{batch.id.hex}"


def enqueue(task: Task, *, delay_seconds: float | None = None) -> bool:
    return dispatch.send("webhook", task.tenant.region, str(task.id), delay_seconds=delay_seconds)


def enqueue_batch(batch_id, *, region: str, delay_seconds: float | None = None) -> bool:
    return dispatch.send("batch_webhook", region, str(batch_id), delay_seconds=delay_seconds)


def backoff_seconds(attempt: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
    ceiling = min(settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def deliver(*, task_id) -> None:
    """Make the task's next delivery attempt if one is due, and schedule the one after.

    Idempotent: the attempt is claimed on the row (``webhook_due_at`` moves past the
    attempt's own timeout), so a duplicate message finds nothing due and does nothing.
    """
    lease = _claim(Task.objects.filter(id=task_id))
    if lease is None:
        return  # not due: delivered, given up, or another worker is attempting it now
    task = Task.objects.select_related("tenant").get(id=task_id)
    delay = _attempt(task)
    _release(Task.objects.filter(id=task.id), lease, delay)
    if delay is not None:
        enqueue(task, delay_seconds=delay)


def deliver_batch(*, batch_id) -> None:
    """The same for a batch's ``batch.completed`` event."""
    lease = _claim(Batch.objects.filter(id=batch_id))
    if lease is None:
        return
    batch = Batch.objects.select_related("tenant").get(id=batch_id)
    delay = _batch_attempt(batch)
    _release(Batch.objects.filter(id=batch.id), lease, delay)
    if delay is not None:
        enqueue_batch(batch.id, region=batch.tenant.region, delay_seconds=delay)


def _claim(rows) -> datetime | None:
    """Take the due attempt of ``rows`` (one task or batch): its lease, or None if none is due."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    return lease if rows.filter(webhook_due_at__lte=now).update(webhook_due_at=lease) else None


def _release(rows, lease: datetime, delay: float | None) -> None:
    rows.filter(webhook_due_at=lease).update(
        webhook_due_at=None if delay is None else timezone.now() + timedelta(seconds=delay)
    )


def _attempt(task: Task) -> float | None:
    """One POST of the task's final event; returns the delay before the next attempt, or None."""
    # Earlier attempts name the event (events sent before ids were derived from the task keep theirs).
    earlier = list(WebhookDelivery.objects.filter(task=task).values_list("event_id", flat=True))
    event, attempt = (earlier[0] if earlier else event_id(task)), len(earlier) + 1
    from synthesis.results import signed_result_url

    result_url = signed_result_url(task) if task.status == TaskStatus.DONE else None
    record = WebhookDelivery(tenant=task.tenant, task=task, event_id=event, url=task.callback_url, attempt=attempt)
    return _post(record, task_event(task, result_url=result_url))


def _batch_attempt(batch: Batch) -> float | None:
    attempt = WebhookDelivery.objects.filter(batch=batch, task__isnull=True).count() + 1
    tasks = list(batch.tasks.order_by("created_at", "id"))
    record = WebhookDelivery(
        tenant=batch.tenant, batch=batch, event_id=batch_event_id(batch), url=batch.callback_url, attempt=attempt
    )
    return _post(record, batch_event(batch, tasks))


def _post(record: WebhookDelivery, event: dict) -> float | None:
    """POST ``event``, signed, to ``record.url``; saves the attempt and returns the delay
    before the next one, or None (delivered, or no attempt left)."""
    body = json.dumps(event, separators=(",", ":"))
    sent_at = datetime.now(tz=UTC)
    signature = Webhook(tenant_secret(record.tenant)).sign(record.event_id, sent_at, body)
    headers = {
        "content-type": "application/json",
        "user-agent": "voice-platform-webhooks/1",
        "webhook-id": record.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    record.event_type = event["type"]
    attempt = record.attempt
    started = time.monotonic()
    try:
        with guarded_client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as client:
            response = client.post(record.url, content=body, headers=headers)
        record.status_code = response.status_code
        record.succeeded = 200 <= response.status_code < 300
        if not record.succeeded:
            record.error = f"HTTP {response.status_code}"
    except BlockedAddress as exc:
        record.error = f"refused: {exc}"[:500]
    except httpx.HTTPError as exc:
        record.error = f"{type(exc).__name__}: {exc}"[:500]
    record.duration_ms = int((time.monotonic() - started) * 1000)
    delay = None
    if not record.succeeded and attempt < settings.WEBHOOK_MAX_ATTEMPTS:
        delay = backoff_seconds(attempt)
        record.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    record.save()
    return delay
