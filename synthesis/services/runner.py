"""The worker side of synthesis: claiming tasks, running the engine, storing results.

Redis delivers at least once and the reconciler may send a job again, so
everything here is idempotent. A task is claimed with a conditional UPDATE
(PENDING, or PROCESSING under a lease that ran out) that numbers the claim;
every later write of the claimant names that number, so a worker that lost its
task to another can neither report progress on it nor finish it. While held, a
task's heartbeat is renewed from a thread (``synthesis.leases``). A message for
a task that a live worker holds is sent again for when the lease would end,
never dropped: if the holder dies, that message takes the task over.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from dramatiq.middleware import TimeLimitExceeded

from sovits_site.errors import ApiError
from synthesis import (
    dispatch,
    leases,
    live_audio,
    object_stores,
    profiles,
    results,
    speaker_embedding,
    storage,
    webhooks,
    worker_lifecycle,
)
from synthesis.engines import get_engine
from synthesis.engines.base import (
    AudioChunk,
    ModelTooLarge,
    ModelUnavailable,
    SynthesisRequest,
    SynthesisResult,
    UnsupportedLanguage,
)
from synthesis.events import publish_task
from synthesis.models import Task, TaskStatus, TaskTimestamps
from synthesis.services import usage
from synthesis.services.batches import batch_item_ended
from synthesis.services.models import model_load_failed, model_too_large
from synthesis.services.tasks import lease_cutoff, task_enqueue, task_job

logger = logging.getLogger(__name__)

_PROGRESS_MIN_INTERVAL = 0.5  # seconds between progress writes


class TaskCancelled(Exception):
    def __init__(self, task_id):
        super().__init__(task_id)
        self.task_id = task_id


class HandBack(Exception):
    """The worker is stopping and its grace period is over: give the tasks back."""


def _claimable() -> Q:
    abandoned = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=lease_cutoff())
    return Q(status=TaskStatus.PENDING) | (Q(status=TaskStatus.PROCESSING) & abandoned)


def _claim(task_ids: list) -> list[Task]:
    """Move the claimable ones of ``task_ids`` to PROCESSING under this worker; returns them,
    loaded after the claim (their ``attempts`` is the claim's number)."""
    claimed = []
    for task_id in task_ids:
        now = timezone.now()
        if Task.objects.filter(_claimable(), id=task_id).update(
            status=TaskStatus.PROCESSING, started_at=now, updated_at=now, heartbeat_at=now,
            worker=leases.worker_name(), progress=0, attempts=F("attempts") + 1,
        ):  # fmt: skip
            claimed.append(task_id)
    tasks = Task.objects.select_related("speaker", "tenant").filter(id__in=claimed).order_by("created_at", "id")
    return [task for task in tasks if not _settled_at_claim(task)]


def _settled_at_claim(task: Task) -> bool:
    """A task cancelled while its worker was gone, or one whose workers keep dying on it,
    is finished here instead of being run (again)."""
    if task.cancel_requested:
        _finish(task, status=TaskStatus.CANCELLED)
        return True
    if task.attempts > settings.TASK_MAX_ATTEMPTS:
        _fail(task, ApiError("WORKER_LOST", details={"attempts": task.attempts - 1}))
        return True
    return False


def _mine(task: Task) -> Q:
    return Q(id=task.id, status=TaskStatus.PROCESSING, attempts=task.attempts)


def _finish(task: Task, *, words: list | None = None, **fields) -> bool:
    """End the task if this worker still holds it; False when another claim superseded ours.
    ``words``: a DONE task's word timestamps, stored in the same transaction."""
    now = timezone.now()
    status = fields.get("status")
    if task.callback_url and status in (TaskStatus.DONE, TaskStatus.FAILED):
        fields["webhook_due_at"] = now
    with transaction.atomic():
        ended = Task.objects.filter(_mine(task)).update(finished_at=now, updated_at=now, heartbeat_at=None, **fields)
        if ended:
            for name, value in {"finished_at": now, "updated_at": now, "heartbeat_at": None, **fields}.items():
                setattr(task, name, value)  # what the row now holds: no need to read it back
            usage.task_finished(task, status, duration_seconds=fields.get("duration_seconds"),
                                result_bytes=fields.get("result_bytes", 0))  # fmt: skip
            if words is not None:
                TaskTimestamps.objects.update_or_create(task_id=task.id, defaults={"words": words})
            batch_item_ended(task)
    if not ended:
        logger.warning("task %s was taken over by another claim; dropping this attempt's outcome", task.id)
        task.refresh_from_db()
        return False
    publish_task(task)
    live_audio.publish_end(task)
    if task.webhook_due_at is not None:
        webhooks.enqueue(task)
    return True


def _fail(task: Task, error: ApiError) -> bool:
    return _finish(task, status=TaskStatus.FAILED, error=error.as_dict())


def _hand_back(tasks: list[Task]) -> None:
    """Give held tasks back to the queue at once (the worker is stopping): PENDING again, and
    the claim not counted against TASK_MAX_ATTEMPTS."""
    jobs = set()
    for task in tasks:
        if Task.objects.filter(_mine(task)).update(
            status=TaskStatus.PENDING, progress=0, worker="", heartbeat_at=None, attempts=F("attempts") - 1
        ):
            logger.info("task %s handed back: the worker is stopping", task.id)
            task.refresh_from_db()
            publish_task(task)
            jobs.add((*task_job(task), task.tenant.region))
    for job, arg, region in jobs:  # a batch's items go back as one batch job
        dispatch.send(job, region, arg)


def _defer(task_id) -> None:
    """A message for a task that a live worker holds: look again when its lease would end."""
    task = Task.objects.select_related("tenant", "speaker").filter(id=task_id, status=TaskStatus.PROCESSING).first()
    if task is None or task.heartbeat_at is None:
        return  # finished (or cancelled): nothing to take over
    ends = task.heartbeat_at + timedelta(seconds=settings.TASK_LEASE_SECONDS)
    task_enqueue(task, delay_seconds=max(1.0, (ends - timezone.now()).total_seconds() + 1))


class _ProgressWriter:
    """Publishes every progress step live, writes it to the row at most every half
    second (for polling clients), stops the task at the next step once a cancel
    was asked for, and gives the tasks back once the worker's grace is over."""

    def __init__(self, tasks: list[Task]):
        self.tasks = tasks
        self.last_write = 0.0

    def __call__(self, index: int, fraction: float) -> None:
        task = self.tasks[index]
        if worker_lifecycle.handing_back():
            raise HandBack
        if Task.objects.filter(id=task.id, cancel_requested=True).exists():
            raise TaskCancelled(task.id)
        value = min(99, int(fraction * 100))  # 100 only with the result
        if value <= task.progress:
            return
        task.progress = value
        publish_task(task)
        if time.monotonic() - self.last_write >= _PROGRESS_MIN_INTERVAL:
            Task.objects.filter(_mine(task)).update(progress=value, updated_at=timezone.now())
            self.last_write = time.monotonic()


class _LiveAudio:
    """Streams each task's audio as the engine makes it, one publisher per task (made at its
    first piece, when the engine's rate is known)."""

    def __init__(self, tasks: list[Task]):
        self.tasks = tasks
        self.publishers: dict[int, live_audio.AudioPublisher] = {}

    def __call__(self, index: int, chunk: AudioChunk) -> None:
        publisher = self.publishers.get(index)
        if publisher is None:
            publisher = self.publishers[index] = live_audio.AudioPublisher(self.tasks[index], chunk.sample_rate)
        publisher.append(chunk)


def task_run(*, task_id) -> None:
    """Synthesize one task. Never raises for a task's own failure: that becomes a FAILED task."""
    tasks = _claim([task_id])
    if not tasks:
        _defer(task_id)
        return
    with leases.holding(tasks):
        _run_group(tasks)


def batch_run(*, batch_id, engine: str) -> None:
    """Synthesize a batch's unfinished items of ``engine``, handing them to it in batch calls."""
    open_items = Task.objects.filter(
        batch_id=batch_id, speaker__engine=engine, status__in=(TaskStatus.PENDING, TaskStatus.PROCESSING)
    )
    tasks = _claim(list(open_items.order_by("created_at", "id").values_list("id", flat=True)))
    held_elsewhere = open_items.filter(status=TaskStatus.PROCESSING).exclude(id__in=[t.id for t in tasks]).first()
    if held_elsewhere is not None:
        _defer(held_elsewhere.id)
    size = max(1, settings.BATCH_ENGINE_SIZE)
    with leases.holding(tasks):
        for start in range(0, len(tasks), size):
            if worker_lifecycle.handing_back():
                _hand_back(tasks[start:])
                return
            _run_group(tasks[start : start + size])


def _error_for(exc: BaseException) -> ApiError:
    """The task error for what went wrong in the engine (or preparing for it)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ModelUnavailable):
        return model_load_failed(exc)
    if isinstance(exc, ModelTooLarge):
        return model_too_large(exc)
    if isinstance(exc, UnsupportedLanguage):
        return ApiError("UNSUPPORTED_LANGUAGE", details={"language": str(exc)})
    if isinstance(exc, TimeLimitExceeded):
        return ApiError("SYNTHESIS_TIMEOUT", details={"limit_seconds": settings.SYNTHESIS_TIME_LIMIT_SECONDS})
    return ApiError("ENGINE_ERROR", f"Synthesis failed: {type(exc).__name__}")


def _run_group(tasks: list[Task]) -> None:
    """One engine call for ``tasks``. A cancelled item is taken out and the rest run again
    (engines that raise for it), or just ends CANCELLED (engines that return it per item)."""
    for task in tasks:
        publish_task(task)
    while tasks:
        runnable = []
        for task in tasks:
            try:
                runnable.append((task, _request_for(task)))
            except Exception as exc:
                if not isinstance(exc, ApiError | ModelUnavailable | ModelTooLarge):
                    logger.exception("task %s could not be prepared", task.id)
                _fail(task, _error_for(exc))
        if not runnable:
            return
        tasks = [task for task, _ in runnable]
        live = _LiveAudio(tasks)
        try:
            engine = get_engine(tasks[0].speaker.engine)  # a group is one job's: one engine
            outputs = engine.synthesize(
                [r for _, (r, _) in runnable], on_progress=_ProgressWriter(tasks), on_audio=live
            )
        except HandBack:
            _hand_back(tasks)
            return
        except TaskCancelled as cancelled:
            for task in tasks:
                if task.id == cancelled.task_id:
                    _finish(task, status=TaskStatus.CANCELLED)
            tasks = [task for task in tasks if task.id != cancelled.task_id]
            for task in tasks:
                task.progress = 0
            continue
        except Exception as exc:  # an engine crash must not take the worker down
            if not isinstance(exc, ModelUnavailable | ModelTooLarge | UnsupportedLanguage):
                logger.exception("engine failed on tasks %s", [t.id for t in tasks])
            for task in tasks:
                _fail(task, _error_for(exc))
            return
        handed_back = []
        for index, ((task, (_, stored)), output) in enumerate(zip(runnable, outputs, strict=True)):
            if isinstance(output, HandBack):
                handed_back.append(task)
            elif isinstance(output, TaskCancelled):
                _finish(task, status=TaskStatus.CANCELLED)
            elif isinstance(output, BaseException):  # Dramatiq's time limit is not an Exception
                logger.warning("task %s failed in the engine: %r", task.id, output)
                _fail(task, _error_for(output))
            else:
                _store(task, output, stored, live.publishers.get(index))
        if handed_back:
            _hand_back(handed_back)
        return


def _request_for(task: Task) -> tuple[SynthesisRequest, profiles.StoredProfile]:
    speaker = task.speaker
    if speaker.deleted_at is not None:
        raise ApiError("NOT_FOUND", "The voice was deleted before the task ran")
    chosen = task.params.get("model_id")  # api_v2's set_*_weights: another model than the voice's own
    if chosen and speaker.model_id and chosen != str(speaker.model_id):
        stored = profiles.for_model(speaker, chosen)
    else:
        stored = profiles.load(speaker)
        if stored is None:  # profiled for another engine, or never: the slow path
            stored = profiles.extract(speaker)
    request = SynthesisRequest(text=task.text, language=task.language, profile=stored.profile, params=task.params)
    return request, stored


def _stored_word(word, duration: float) -> list:
    """``TaskTimestamps.words``'s form of a word, inside the audio."""
    return [min(duration, round(word.start, 3)), min(duration, round(word.end, 3)), word.text_start, word.text_end]


def _store(
    task: Task, output: SynthesisResult, stored: profiles.StoredProfile, publisher: live_audio.AudioPublisher | None
) -> None:
    """Store the result, made of the very samples that were streamed live."""
    try:
        similarity = speaker_embedding.similarity(output.audio, output.sample_rate, stored.embedding)
        if publisher is None:  # an engine that gave this result whole: it streams whole
            publisher = live_audio.AudioPublisher(task, output.sample_rate)
            publisher.append(AudioChunk(output.audio, output.sample_rate, 1.0, output.words))
        pcm = publisher.close()
        rate = publisher.rate
        data = results.encode_pcm(pcm, rate, output_format=task.output_format)
        object_key = storage.put(tenant=task.tenant, kind="results", data=data)
    except Exception as exc:
        logger.exception("task %s: storing the result failed", task.id)
        code = "STORAGE_UNAVAILABLE" if isinstance(exc, object_stores.StoreUnavailable) else "ENGINE_ERROR"
        _fail(task, ApiError(code, f"Storing the result failed: {type(exc).__name__}"))
        return
    duration = round(len(pcm) / rate, 3)
    done = _finish(
        task,
        status=TaskStatus.DONE,
        progress=100,
        result_key=object_key,
        result_bytes=len(data),
        sample_rate=rate,
        duration_seconds=duration,
        similarity=similarity,
        words=[_stored_word(word, duration) for word in output.words],
    )
    if not done:  # another claim superseded ours: one result file per task, theirs
        storage.delete(object_key=object_key)
