"""The worker side of synthesis: claiming tasks, running the engine, storing results.

Redis delivers at least once, so everything here is idempotent: a task is
claimed with a conditional UPDATE and a second delivery of a task that is
running (within its lease) or finished does nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis import profiles, results, speaker_embedding, storage, webhooks
from synthesis.engines import get_engine
from synthesis.engines.base import SynthesisRequest, SynthesisResult, UnsupportedLanguage
from synthesis.events import publish_task
from synthesis.models import Task, TaskStatus

logger = logging.getLogger(__name__)

# A PROCESSING task whose row has not moved for this long belongs to a worker
# that died; a redelivered message may take it over.
TASK_LEASE = timedelta(minutes=5)
_PROGRESS_MIN_INTERVAL = 0.5  # seconds between progress writes


class TaskCancelled(Exception):
    def __init__(self, task_id):
        super().__init__(task_id)
        self.task_id = task_id


def _claim(task_ids: list) -> list[uuid.UUID]:
    """Move the claimable ones of ``task_ids`` to PROCESSING; returns those now ours."""
    claimed = []
    for task_id in task_ids:
        now = timezone.now()
        claimable = Q(status=TaskStatus.PENDING) | Q(status=TaskStatus.PROCESSING, updated_at__lt=now - TASK_LEASE)
        if Task.objects.filter(claimable, id=task_id).update(
            status=TaskStatus.PROCESSING, started_at=now, updated_at=now, progress=0, attempts=F("attempts") + 1
        ):
            claimed.append(task_id)
    return claimed


def _finish(task: Task, **fields) -> None:
    now = timezone.now()
    Task.objects.filter(id=task.id, status=TaskStatus.PROCESSING).update(finished_at=now, updated_at=now, **fields)
    task.refresh_from_db()
    publish_task(task)
    webhooks.schedule(task)


def _fail(task: Task, error: ApiError) -> None:
    _finish(task, status=TaskStatus.FAILED, error=error.as_dict())


class _ProgressWriter:
    """Publishes every progress step live, writes it to the row at most every half
    second (for polling clients; the write doubles as the lease heartbeat), and
    stops the task at the next step once a cancel was asked for."""

    def __init__(self, tasks: list[Task]):
        self.tasks = tasks
        self.last_write = 0.0

    def __call__(self, index: int, fraction: float) -> None:
        task = self.tasks[index]
        if Task.objects.filter(id=task.id, cancel_requested=True).exists():
            raise TaskCancelled(task.id)
        value = min(99, int(fraction * 100))  # 100 only with the result
        if value <= task.progress:
            return
        task.progress = value
        publish_task(task)
        if time.monotonic() - self.last_write >= _PROGRESS_MIN_INTERVAL:
            Task.objects.filter(id=task.id, status=TaskStatus.PROCESSING).update(
                progress=value, updated_at=timezone.now()
            )
            self.last_write = time.monotonic()


def task_run(*, task_id) -> None:
    """Synthesize one task. Never raises for a task's own failure: that becomes a FAILED task."""
    if not _claim([task_id]):
        logger.info("task %s is not claimable (running or finished); skipping", task_id)
        return
    _run_group([Task.objects.select_related("speaker", "tenant").get(id=task_id)])


def batch_run(*, batch_id) -> None:
    """Synthesize a batch's pending items, handing them to the engine in batch calls."""
    pending = list(Task.objects.filter(batch_id=batch_id, status=TaskStatus.PENDING).order_by("created_at", "id"))
    claimed = set(_claim([t.id for t in pending]))
    tasks = list(Task.objects.select_related("speaker", "tenant").filter(id__in=claimed).order_by("created_at", "id"))
    size = max(1, settings.BATCH_ENGINE_SIZE)
    for start in range(0, len(tasks), size):
        _run_group(tasks[start : start + size])


def _run_group(tasks: list[Task]) -> None:
    """One engine call for ``tasks``; a cancelled item is taken out and the rest run again."""
    for task in tasks:
        publish_task(task)
    while tasks:
        runnable = []
        for task in tasks:
            try:
                runnable.append((task, _request_for(task)))
            except ApiError as exc:
                _fail(task, exc)
            except Exception as exc:
                logger.exception("task %s could not be prepared", task.id)
                _fail(task, ApiError("ENGINE_ERROR", f"Synthesis failed: {type(exc).__name__}"))
        if not runnable:
            return
        tasks = [task for task, _ in runnable]
        try:
            outputs = get_engine().synthesize([r for _, (r, _) in runnable], on_progress=_ProgressWriter(tasks))
        except TaskCancelled as cancelled:
            for task in tasks:
                if task.id == cancelled.task_id:
                    _finish(task, status=TaskStatus.CANCELLED)
            tasks = [task for task in tasks if task.id != cancelled.task_id]
            for task in tasks:
                task.progress = 0
            continue
        except UnsupportedLanguage as exc:
            for task in tasks:
                _fail(task, ApiError("UNSUPPORTED_LANGUAGE", details={"language": str(exc)}))
            return
        except Exception as exc:  # an engine crash must not take the worker down
            logger.exception("engine failed on tasks %s", [t.id for t in tasks])
            for task in tasks:
                _fail(task, ApiError("ENGINE_ERROR", f"Synthesis failed: {type(exc).__name__}"))
            return
        for (task, (_, stored)), output in zip(runnable, outputs, strict=True):
            _store(task, output, stored)
        return


def _request_for(task: Task) -> tuple[SynthesisRequest, profiles.StoredProfile]:
    speaker = task.speaker
    if speaker.deleted_at is not None:
        raise ApiError("NOT_FOUND", "The voice was deleted before the task ran")
    stored = profiles.load(speaker)
    if stored is None:  # profiled for another engine, or never: the slow path
        stored = profiles.extract(speaker)
    request = SynthesisRequest(text=task.text, language=task.language, profile=stored.profile, params=task.params)
    return request, stored


def _store(task: Task, output: SynthesisResult, stored: profiles.StoredProfile) -> None:
    try:
        similarity = _similarity(output, stored)
        data, rate = results.encode(
            output.audio, output.sample_rate, output_format=task.output_format, sample_rate=task.sample_rate
        )
        object_key = storage.put(tenant=task.tenant, kind="results", data=data)
    except Exception as exc:
        logger.exception("task %s: storing the result failed", task.id)
        _fail(task, ApiError("ENGINE_ERROR", f"Storing the result failed: {type(exc).__name__}"))
        return
    _finish(
        task,
        status=TaskStatus.DONE,
        progress=100,
        result_key=object_key,
        result_bytes=len(data),
        sample_rate=rate,
        duration_seconds=round(output.duration, 3),
        similarity=similarity,
    )
    if task.status != TaskStatus.DONE:  # someone else finished or failed it meanwhile: drop our copy
        storage.delete(object_key=object_key)


def _similarity(result: SynthesisResult, stored: profiles.StoredProfile) -> float | None:
    try:
        output = speaker_embedding.embed(result.audio, result.sample_rate)
    except ValueError:  # too short to embed (a one-word text)
        return None
    return round(speaker_embedding.cosine(output, stored.embedding), 4)
