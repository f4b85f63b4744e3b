"""Writes for synthesis tasks: creating them and running them in a worker."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis import audio, profiles, speaker_embedding, storage
from synthesis.engines import engine_info, get_engine
from synthesis.engines.base import SynthesisRequest, UnsupportedLanguage
from synthesis.events import publish_task
from synthesis.languages import AUTO, LANGUAGES, resolve
from synthesis.models import SpeakerStatus, Task, TaskStatus
from synthesis.selectors import speaker_get
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# A PROCESSING task whose row has not moved for this long belongs to a worker
# that died; a redelivered message may take it over.
TASK_LEASE = timedelta(minutes=5)
_PROGRESS_MIN_INTERVAL = 0.5  # seconds between progress writes


def task_create(
    *,
    tenant: Tenant,
    speaker_id: uuid.UUID,
    text: str,
    language: str = AUTO,
    priority: int = 0,
    callback_url: str = "",
    params: dict | None = None,
) -> Task:
    text = text.strip()
    if not text:
        raise ApiError(
            "VALIDATION_ERROR", "The text is empty", details={"fields": {"text": ["This field may not be blank."]}}
        )
    if len(text) > settings.MAX_TASK_CHARACTERS:
        raise ApiError(
            "TEXT_TOO_LONG",
            f"The text has {len(text)} characters; a task takes at most {settings.MAX_TASK_CHARACTERS}",
            details={"characters": len(text), "max_characters": settings.MAX_TASK_CHARACTERS},
        )
    supported = engine_info().languages & set(LANGUAGES)
    resolved = resolve(language, text)
    if resolved not in supported:
        raise ApiError(
            "UNSUPPORTED_LANGUAGE",
            f"The language {resolved!r} is not spoken by this service's engine",
            details={"language": resolved, "supported": [AUTO, *sorted(supported)]},
        )
    speaker = speaker_get(tenant=tenant, speaker_id=speaker_id)
    if speaker.status != SpeakerStatus.READY:
        raise ApiError(
            "VOICE_NOT_READY",
            f"The voice is {speaker.status}",
            details={"speaker_id": str(speaker.id), "status": speaker.status, "error": speaker.error},
        )
    with transaction.atomic():
        task = Task.objects.create(
            tenant=tenant,
            speaker=speaker,
            text=text,
            characters=len(text),
            language=resolved,
            priority=priority,
            params=params or {},
            callback_url=callback_url,
        )
        transaction.on_commit(lambda: _enqueue(task))
    return task


def _enqueue(task: Task) -> None:
    from synthesis.actors import synthesize_task

    synthesize_task.send(str(task.id))
    publish_task(task)


def _claim(task_id: uuid.UUID | str) -> bool:
    """Move the task to PROCESSING if it is ours to run. Redis delivers at least
    once, so a second delivery of a task that is running or finished does nothing."""
    now = timezone.now()
    claimable = Q(status=TaskStatus.PENDING) | Q(status=TaskStatus.PROCESSING, updated_at__lt=now - TASK_LEASE)
    claimed = Task.objects.filter(claimable, id=task_id).update(
        status=TaskStatus.PROCESSING, started_at=now, updated_at=now, progress=0, attempts=F("attempts") + 1
    )
    return claimed == 1


def _fail(task: Task, error: ApiError) -> None:
    Task.objects.filter(id=task.id, status=TaskStatus.PROCESSING).update(
        status=TaskStatus.FAILED, error=error.as_dict(), finished_at=timezone.now(), updated_at=timezone.now()
    )


class _ProgressWriter:
    """Publishes every progress step live, and writes it to the row at most every
    half second (for polling clients; the write doubles as the lease heartbeat)."""

    def __init__(self, task: Task):
        self.task = task
        self.last_write = 0.0

    def __call__(self, _index: int, fraction: float) -> None:
        value = min(99, int(fraction * 100))  # 100 only with the result
        if value <= self.task.progress:
            return
        self.task.progress = value
        publish_task(self.task)
        if time.monotonic() - self.last_write >= _PROGRESS_MIN_INTERVAL:
            Task.objects.filter(id=self.task.id, status=TaskStatus.PROCESSING).update(
                progress=value, updated_at=timezone.now()
            )
            self.last_write = time.monotonic()


def task_run(*, task_id: uuid.UUID | str) -> None:
    """Synthesize one task. Never raises for a task's own failure: that becomes a FAILED task."""
    if not _claim(task_id):
        logger.info("task %s is not claimable (already running or finished); skipping", task_id)
        return
    task = Task.objects.select_related("speaker", "tenant").get(id=task_id)
    publish_task(task)
    try:
        _synthesize(task)
    except ApiError as exc:
        _fail(task, exc)
    except UnsupportedLanguage as exc:
        _fail(task, ApiError("UNSUPPORTED_LANGUAGE", details={"language": str(exc)}))
    except Exception as exc:  # an engine crash must not take the worker down
        logger.exception("task %s failed in the engine", task.id)
        _fail(task, ApiError("ENGINE_ERROR", f"Synthesis failed: {type(exc).__name__}"))
    task.refresh_from_db()
    publish_task(task)


def _similarity(result, stored: profiles.StoredProfile) -> float | None:
    try:
        output = speaker_embedding.embed(result.audio, result.sample_rate)
    except ValueError:  # too short to embed (a one-word text)
        return None
    return round(speaker_embedding.cosine(output, stored.embedding), 4)


def _synthesize(task: Task) -> None:
    speaker = task.speaker
    if speaker.deleted_at is not None:
        raise ApiError("NOT_FOUND", "The voice was deleted before the task ran")
    engine = get_engine()
    stored = profiles.load(speaker)
    if stored is None:  # profiled for another engine, or never: the slow path
        stored = profiles.extract(speaker)
    request = SynthesisRequest(text=task.text, language=task.language, profile=stored.profile, params=task.params)
    [result] = engine.synthesize([request], on_progress=_ProgressWriter(task))
    similarity = _similarity(result, stored)
    wav = audio.encode_wav(result.audio, result.sample_rate)
    object_key = storage.put(tenant=task.tenant, kind="results", data=wav)
    finished = Task.objects.filter(id=task.id, status=TaskStatus.PROCESSING).update(
        status=TaskStatus.DONE,
        progress=100,
        result_key=object_key,
        result_bytes=len(wav),
        duration_seconds=round(result.duration, 3),
        similarity=similarity,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not finished:  # someone else finished or failed it meanwhile: drop our copy
        storage.delete(object_key=object_key)
