"""Dramatiq actors: thin adapters that load by id and call a service.

Priority is real queues, not Dramatiq's ``priority`` option (which only orders
messages a worker has already prefetched): high-priority work goes to the
``synthesis.high`` queue, which a worker thread of its own serves, so it
overtakes any backlog on ``synthesis``.
"""

from __future__ import annotations

import dramatiq
from django.conf import settings
from periodiq import cron

from synthesis import webhooks
from synthesis.services import retention
from synthesis.services.runner import batch_run, task_run
from synthesis.services.speakers import speaker_profile_extract

NORMAL_QUEUE, HIGH_QUEUE = "synthesis", "synthesis.high"
_LIMIT_MS = settings.SYNTHESIS_TIME_LIMIT_SECONDS * 1000


@dramatiq.actor(queue_name=NORMAL_QUEUE, max_retries=3, time_limit=_LIMIT_MS, priority=10)
def synthesize_task(task_id: str) -> None:
    task_run(task_id=task_id)


@dramatiq.actor(queue_name=HIGH_QUEUE, max_retries=3, time_limit=_LIMIT_MS, priority=0)
def synthesize_task_high(task_id: str) -> None:
    task_run(task_id=task_id)


@dramatiq.actor(queue_name=NORMAL_QUEUE, max_retries=3, time_limit=_LIMIT_MS, priority=10)
def synthesize_batch(batch_id: str) -> None:
    batch_run(batch_id=batch_id)


@dramatiq.actor(queue_name=HIGH_QUEUE, max_retries=3, time_limit=_LIMIT_MS, priority=0)
def synthesize_batch_high(batch_id: str) -> None:
    batch_run(batch_id=batch_id)


# Own queue: a new voice need not wait behind a backlog of tasks.
@dramatiq.actor(queue_name="profiles", max_retries=3, time_limit=_LIMIT_MS, priority=5)
def extract_profile(speaker_id: str) -> None:
    speaker_profile_extract(speaker_id=speaker_id)


@dramatiq.actor(queue_name="webhooks", max_retries=0, time_limit=60_000)
def deliver_webhook(task_id: str, event_id: str, attempt: int) -> None:
    delay = webhooks.deliver(task_id=task_id, event_id=event_id, attempt=attempt)
    if delay is not None:
        deliver_webhook.send_with_options(args=(task_id, event_id, attempt + 1), delay=int(delay * 1000))


def actor_for(kind: str, priority: int) -> dramatiq.Actor:
    return {
        ("task", 0): synthesize_task,
        ("task", 1): synthesize_task_high,
        ("batch", 0): synthesize_batch,
        ("batch", 1): synthesize_batch_high,
    }[(kind, priority)]


# Hourly, by the periodiq scheduler process; see synthesis.services.retention.
@dramatiq.actor(queue_name="maintenance", max_retries=3, periodic=cron("7 * * * *"))
def purge_expired() -> None:
    retention.purge()


@dramatiq.actor(queue_name="maintenance", max_retries=3, time_limit=_LIMIT_MS)
def work_subject_request(request_id: str) -> None:
    from synthesis.services.subject_requests import request_work

    request_work(request_id=request_id)
