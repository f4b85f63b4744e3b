"""Dramatiq actors: thin adapters that load by id and call a service.

Every job runs in its tenant's data region: each served region (settings.REGIONS)
gets its own copy of every job's actor, on queues named ``<region>.<queue>``
(synthesis.queues), and a worker started for a region consumes only those
(``deploy/stack.py`` passes ``--queues``). Synthesis, profiling and model checks
also have a copy per engine (``task.gpt-sovits`` on ``<region>.gpt-sovits.synthesis``),
consumed only by workers running that engine. Jobs, their queues and options are
listed in ``synthesis.dispatch``, which is also the one place that sends them.

Priority is real queues, not Dramatiq's ``priority`` option (which only orders
messages a worker has already prefetched): high-priority work goes to the
``<region>.<engine>.synthesis.high`` queue, which a worker thread of its own serves,
so it overtakes any backlog on ``<region>.<engine>.synthesis``.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from django.conf import settings
from periodiq import cron

from synthesis import dispatch, queues, webhooks
from synthesis.services import reconciler, retention
from synthesis.services.models import model_check
from synthesis.services.runner import batch_run, task_run
from synthesis.services.speakers import speaker_profile_extract
from synthesis.services.subject_requests import request_work


def _synthesize_task(task_id: str) -> None:
    task_run(task_id=task_id)


def _batcher(engine: str) -> Callable[[str], None]:
    def synthesize_batch(batch_id: str) -> None:
        batch_run(batch_id=batch_id, engine=engine)

    return synthesize_batch


def _extract_profile(speaker_id: str) -> None:
    speaker_profile_extract(speaker_id=speaker_id)


def _check_model(model_id: str) -> None:
    model_check(model_id=model_id)


def _deliver_webhook(task_id: str, *_legacy) -> None:
    webhooks.deliver(task_id=task_id)


def _deliver_batch_webhook(batch_id: str) -> None:
    webhooks.deliver_batch(batch_id=batch_id)


def _work_subject_request(request_id: str) -> None:
    request_work(request_id=request_id)


def _purger(region: str) -> Callable[[], None]:
    def purge_expired() -> None:
        retention.purge(region=region)

    return purge_expired


def _reconciler(region: str) -> Callable[[], None]:
    def reconcile() -> None:
        reconciler.reconcile(region=region)

    return reconcile


# job → the function, or a factory taking the region (shared jobs) or the engine (engine jobs)
_FUNCTIONS: dict[str, Callable] = {
    "task": _synthesize_task,
    "task_high": _synthesize_task,
    "batch": _batcher,
    "batch_high": _batcher,
    "profile": _extract_profile,
    "model_check": _check_model,
    "webhook": _deliver_webhook,
    "batch_webhook": _deliver_batch_webhook,
    "subject_request": _work_subject_request,
    "purge": _purger,
    "reconcile": _reconciler,
}
_FACTORIES = {_purger, _reconciler, _batcher}
# The scheduler process (periodiq) enqueues these: the retention purge hourly, and every
# minute the reconciler, which sends again whatever work the broker lost.
_PERIODIC = {"purge": cron("7 * * * *"), "reconcile": cron("* * * * *")}


def _declare(region: str) -> dict[str, dramatiq.Actor]:
    actors = {}
    for job, spec in dispatch.JOBS.items():
        base, _, engine = job.partition(".")
        fn = _FUNCTIONS[base]
        if fn in _FACTORIES:
            fn = fn(engine or region)
        options = dict(spec.options)
        if job in _PERIODIC:
            options["periodic"] = _PERIODIC[job]
        actors[job] = dramatiq.actor(
            fn,
            actor_name=dispatch.actor_name(job, region),
            queue_name=queues.regional(region, spec.queue),
            **options,
        )
    return actors


ACTORS: dict[str, dict[str, dramatiq.Actor]] = {region: _declare(region) for region in settings.REGIONS}
