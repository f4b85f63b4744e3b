"""A batch's end: the moment its last item ends, recorded once, with its webhook."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from synthesis import webhooks
from synthesis.models import Batch, Task, TaskStatus


def batch_item_ended(task: Task) -> bool:
    """Call in the transaction that ends one of a batch's items (DONE, FAILED or CANCELLED).
    True when it was the last: the batch is then completed, and its ``batch.completed``
    webhook is due (sent once the transaction commits) if it has a ``callback_url``.

    Items end at the same time on several workers. Each ending locks the batch row before
    looking at the other items, so the last look runs after every other ending committed
    (under READ COMMITTED a statement sees what committed before it; SQLite serializes the
    writers anyway), and ``completed_at`` is set by a conditional update: exactly once."""
    if not task.batch_id:
        return False
    batch = Batch.objects.select_for_update().filter(id=task.batch_id).only("id", "callback_url").first()
    if batch is None:
        return False
    if Task.objects.filter(batch_id=batch.id, status__in=(TaskStatus.PENDING, TaskStatus.PROCESSING)).exists():
        return False
    now = timezone.now()
    due = now if batch.callback_url else None
    if not Batch.objects.filter(id=batch.id, completed_at__isnull=True).update(completed_at=now, webhook_due_at=due):
        return False
    if due is not None:
        region = task.tenant.region
        transaction.on_commit(lambda: webhooks.enqueue_batch(batch.id, region=region))
    return True
