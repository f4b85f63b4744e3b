"""Dramatiq actors: thin adapters that load by id and call a service.

Every job runs in its tenant's data region: each served region (settings.REGIONS)
gets its own copy of every actor, on queues named ``<region>.<queue>`` (synthesis.queues),
and a worker started for a region consumes only those (``deploy/stack.py`` passes
``--queues``). Use :func:`actor_for` to pick the actor for a tenant.

Priority is real queues, not Dramatiq's ``priority`` option (which only orders
messages a worker has already prefetched): high-priority work goes to the
``<region>.synthesis.high`` queue, which a worker thread of its own serves, so it
overtakes any backlog on ``<region>.synthesis``.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from django.conf import settings
from periodiq import cron

from synthesis import queues, webhooks
from synthesis.services import retention
from synthesis.services.runner import batch_run, task_run
from synthesis.services.speakers import speaker_profile_extract

_LIMIT_MS = settings.SYNTHESIS_TIME_LIMIT_SECONDS * 1000


def _synthesize_task(task_id: str) -> None:
    task_run(task_id=task_id)


def _synthesize_batch(batch_id: str) -> None:
    batch_run(batch_id=batch_id)


def _extract_profile(speaker_id: str) -> None:
    speaker_profile_extract(speaker_id=speaker_id)


def _webhook_deliverer(region: str) -> Callable[[str, str, int], None]:
    def deliver_webhook(task_id: str, event_id: str, attempt: int) -> None:
        delay = webhooks.deliver(task_id=task_id, event_id=event_id, attempt=attempt)
        if delay is not None:
            actor_for("webhook", region).send_with_options(
                args=(task_id, event_id, attempt + 1), delay=int(delay * 1000)
            )

    return deliver_webhook


def _purger(region: str) -> Callable[[], None]:
    def purge_expired() -> None:
        retention.purge(region=region)

    return purge_expired


def _work_subject_request(request_id: str) -> None:
    from synthesis.services.subject_requests import request_work

    request_work(request_id=request_id)


_RETRIED = {"max_retries": 3, "time_limit": _LIMIT_MS}
# job → (function, or factory taking the region; queue; actor options)
_JOBS: dict[str, tuple[Callable, str, dict]] = {
    "task": (_synthesize_task, queues.SYNTHESIS, {**_RETRIED, "priority": 10}),
    "task_high": (_synthesize_task, queues.SYNTHESIS_HIGH, {**_RETRIED, "priority": 0}),
    "batch": (_synthesize_batch, queues.SYNTHESIS, {**_RETRIED, "priority": 10}),
    "batch_high": (_synthesize_batch, queues.SYNTHESIS_HIGH, {**_RETRIED, "priority": 0}),
    # Own queue: a new voice need not wait behind a backlog of tasks.
    "profile": (_extract_profile, queues.PROFILES, {**_RETRIED, "priority": 5}),
    "webhook": (_webhook_deliverer, queues.WEBHOOKS, {"max_retries": 0, "time_limit": 60_000}),
    # Hourly, by the periodiq scheduler process; see synthesis.services.retention.
    "purge": (_purger, queues.MAINTENANCE, {"max_retries": 3, "periodic": cron("7 * * * *")}),
    "subject_request": (_work_subject_request, queues.MAINTENANCE, _RETRIED),
}
_FACTORIES = {_webhook_deliverer, _purger}


def _declare(region: str) -> dict[str, dramatiq.Actor]:
    actors = {}
    for job, (fn, queue, options) in _JOBS.items():
        actors[job] = dramatiq.actor(
            fn(region) if fn in _FACTORIES else fn,
            actor_name=f"{job}.{region}",
            queue_name=queues.regional(region, queue),
            **options,
        )
    return actors


ACTORS: dict[str, dict[str, dramatiq.Actor]] = {region: _declare(region) for region in settings.REGIONS}


def actor_for(job: str, region: str) -> dramatiq.Actor:
    try:
        return ACTORS[region][job]
    except KeyError:
        raise LookupError(f"no {job!r} job in region {region!r}; this deployment serves {settings.REGIONS}") from None
