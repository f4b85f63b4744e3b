"""The one place that enqueues jobs.

Services name a job, its region and its arguments; this module builds the
Dramatiq message for that job's actor (declared from the same table in
``synthesis.actors``) and hands it to the broker. It imports no actor, so
services never import the actors that import them.

The database is the truth and the broker only rings the bell: a send that
fails (Redis down or restarting) is logged and forgotten, because the
reconciler (``synthesis.services.reconciler``) sends again whatever should be
moving and is not. Everything sent must therefore be safe to run twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import dramatiq
import redis
from django.conf import settings
from dramatiq.common import current_millis, dq_name
from dramatiq.errors import BrokerConnectionError
from dramatiq.message import Message

from sovits_site.errors import BROKER_RETRY_AFTER_SECONDS, ApiError
from synthesis import queues

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    queue: str
    options: dict = field(default_factory=dict)  # the actor's Dramatiq options


_LIMIT_MS = settings.SYNTHESIS_TIME_LIMIT_SECONDS * 1000
_RETRIED = {"max_retries": 3, "time_limit": _LIMIT_MS}

# Jobs that run on an engine: one copy per engine, on that engine's queues (see engine_job).
ENGINE_JOBS: dict[str, Job] = {
    "task": Job(queues.SYNTHESIS, {**_RETRIED, "priority": 10}),
    "task_high": Job(queues.SYNTHESIS_HIGH, {**_RETRIED, "priority": 0}),
    "batch": Job(queues.SYNTHESIS, {**_RETRIED, "priority": 10}),
    "batch_high": Job(queues.SYNTHESIS_HIGH, {**_RETRIED, "priority": 0}),
    # Own queue: a new voice need not wait behind a backlog of tasks.
    "profile": Job(queues.PROFILES, {**_RETRIED, "priority": 5}),
    # A registered model's files are read and checked where the engine's workers run.
    "model_check": Job(queues.PROFILES, {"max_retries": 1, "time_limit": _LIMIT_MS, "priority": 5}),
}


def engine_job(job: str, engine: str) -> str:
    """The name of ``job`` (one of ENGINE_JOBS) for ``engine``: ``task.gpt-sovits``."""
    return f"{job}.{engine}"


# Every job the service runs; ``synthesis.actors`` declares one actor per job and region.
JOBS: dict[str, Job] = {
    **{
        engine_job(job, engine): Job(queues.for_engine(spec.queue, engine), spec.options)
        for job, spec in ENGINE_JOBS.items()
        for engine in queues.ENGINES
    },
    "webhook": Job(queues.WEBHOOKS, {"max_retries": 0, "time_limit": 60_000}),
    "batch_webhook": Job(queues.WEBHOOKS, {"max_retries": 0, "time_limit": 60_000}),
    "subject_request": Job(queues.MAINTENANCE, _RETRIED),
    # Periodic (the scheduler process enqueues them); see synthesis.actors.
    "purge": Job(queues.MAINTENANCE, {"max_retries": 3}),
    "reconcile": Job(queues.MAINTENANCE, {"max_retries": 0, "max_age": 55_000}),
}


def actor_name(job: str, region: str) -> str:
    return f"{job}.{region}"


def send(job: str, region: str, *args: str, delay_seconds: float | None = None) -> bool:
    """Enqueue ``job`` for ``region``; False (logged) when the broker cannot take it now."""
    if region not in settings.REGIONS:
        raise LookupError(f"no region {region!r}; this deployment serves {settings.REGIONS}")
    message = Message(
        queue_name=queues.regional(region, JOBS[job].queue),
        actor_name=actor_name(job, region),
        args=tuple(str(arg) for arg in args),
        kwargs={},
        options={},
    )
    delay = None if delay_seconds is None else max(0, int(delay_seconds * 1000))
    try:
        dramatiq.get_broker().enqueue(message, delay=delay)
    except (redis.RedisError, BrokerConnectionError, OSError) as exc:
        logger.warning("could not enqueue %s%s (%s); the reconciler will send it again", job, list(args), exc)
        return False
    return True


def require_broker() -> None:
    """For callers that wait on the result (the synchronous endpoints): refuse at once with
    503 BROKER_UNAVAILABLE while Redis is away, rather than hold the client until it returns."""
    try:
        dramatiq.get_broker().client.ping()
    except (redis.RedisError, OSError) as exc:
        raise ApiError(
            "BROKER_UNAVAILABLE",
            "Synthesis is paused while the message broker is unavailable; retry shortly",
            details={"retry_after": BROKER_RETRY_AFTER_SECONDS},
        ) from exc


def waiting(region: str) -> set[tuple[str, str]]:
    """``(job, first argument)`` of every message the broker holds for ``region`` and will
    deliver: queued, delayed, or fetched by a live worker and not yet acknowledged.

    Dramatiq's Redis broker keeps each queue's messages in the hash
    ``<namespace>:<queue>.msgs`` (delayed ones under ``<queue>.DQ``) from enqueue
    to acknowledgement. A message fetched by a worker that died stays there, in
    that worker's ``__acks__`` set, until Dramatiq's own maintenance (run on a
    random few of its commands) puts it back in the queue; it counts as lost here,
    so the reconciler need not wait for that. What is in no hash is lost too.
    Raises when Redis cannot be reached: then nothing can be sent either.
    """
    broker = dramatiq.get_broker()
    client, namespace = broker.client, broker.namespace
    silent_since = current_millis() - broker.heartbeat_timeout
    dead = [worker.decode() for worker in client.zrangebyscore(f"{namespace}:__heartbeats__", 0, silent_since)]
    names = queues.of_regions([region], queues.ENGINES)
    keys = [key for name in names for key in (name, dq_name(name))]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(f"{namespace}:{key}.msgs")
        for worker in dead:
            pipe.smembers(f"{namespace}:__acks__.{worker}.{key}")
    replies = iter(pipe.execute())
    found: set[tuple[str, str]] = set()
    for _key in keys:
        messages = next(replies)
        held_by_dead = set().union(*(next(replies) for _ in dead))
        for redis_id, raw in messages.items():
            message = Message.decode(raw)
            if redis_id not in held_by_dead and message.args:
                found.add((message.actor_name.rsplit(".", 1)[0], str(message.args[0])))
    return found
