"""Writes for synthesis tasks and batches: validating, creating, cancelling."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis import dispatch, engines, live_audio
from synthesis.events import publish_task
from synthesis.languages import AUTO, LANGUAGES, SCRIPTS, resolve, script_mismatch
from synthesis.models import (
    Batch,
    IdempotencyRecord,
    OutputFormat,
    Speaker,
    SpeakerStatus,
    Task,
    TaskStatus,
)
from synthesis.results import OPUS_RATES, SAMPLE_RATES
from synthesis.safe_http import BlockedAddress, check_url
from synthesis.selectors import speaker_get
from synthesis.services import quotas, usage
from synthesis.services.batches import batch_item_ended
from tenants import dpa
from tenants.models import Tenant

_CONTROL = {c: None for c in range(0x20) if chr(c) not in "\n\t"} | {0x7F: None}
# The speaking rates every engine can produce (eSpeak's rate and GPT-SoVITS's speed_factor
# both go from half to double); clients with wider ranges (OpenAI's 0.25-4) are clamped to it.
SPEED_MIN, SPEED_MAX = 0.5, 2.0


def speed_applied(speed: float) -> float:
    """The speed a task runs at for a requested one outside what the engines do."""
    return min(SPEED_MAX, max(SPEED_MIN, speed))


def clean_text(text: str) -> str:
    """Control characters out (newlines and tabs stay). Markup such as SSML is not
    interpreted anywhere: eSpeak is called without its SSML flag, so it is read as text."""
    return text.translate(_CONTROL).strip()


@dataclass(frozen=True)
class TaskSpec:
    """One validated request, ready to become a Task row."""

    speaker: Speaker
    text: str
    language: str
    output_format: str
    sample_rate: int | None
    params: dict


def validate_request(
    *,
    tenant: Tenant,
    speaker_id: uuid.UUID,
    text: str,
    language: str = AUTO,
    output_format: str = OutputFormat.WAV,
    sample_rate: int | None = None,
    params: dict | None = None,
) -> TaskSpec:
    text = clean_text(text)
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
    served = set().union(*(info.languages for info in engines.served())) & set(LANGUAGES)
    resolved = resolve(language, text)
    if resolved not in served:
        raise ApiError(
            "UNSUPPORTED_LANGUAGE",
            f"The language {resolved!r} is not spoken by this service's engines",
            details={"language": resolved, "supported": [AUTO, *sorted(served)]},
        )
    _check_script(language, resolved, text)
    if sample_rate is not None and sample_rate not in SAMPLE_RATES:
        raise ApiError("VALIDATION_ERROR", details={"fields": {"sample_rate": [f"One of {list(SAMPLE_RATES)}."]}})
    if output_format == OutputFormat.OGG and sample_rate is not None and sample_rate not in OPUS_RATES:
        raise ApiError(
            "VALIDATION_ERROR", details={"fields": {"sample_rate": [f"Opus needs one of {list(OPUS_RATES)}."]}}
        )
    speed = (params or {}).get("speed", 1.0)
    if not isinstance(speed, int | float) or not SPEED_MIN <= speed <= SPEED_MAX:
        raise ApiError(
            "VALIDATION_ERROR", details={"fields": {"params": {"speed": [f"Between {SPEED_MIN} and {SPEED_MAX}."]}}}
        )
    speaker = speaker_get(tenant=tenant, speaker_id=speaker_id, with_transcript=False)
    if speaker.status != SpeakerStatus.READY:
        raise ApiError(
            "VOICE_NOT_READY",
            f"The voice is {speaker.status}",
            details={"speaker_id": str(speaker.id), "status": speaker.status, "error": speaker.error},
        )
    spoken = engines.engine_info(speaker.engine).languages & set(LANGUAGES)
    if resolved not in spoken:
        raise ApiError(
            "UNSUPPORTED_LANGUAGE",
            f"The voice speaks through the {speaker.engine} engine, which does not speak {resolved!r}",
            details={"language": resolved, "supported": [AUTO, *sorted(spoken)], "engine": speaker.engine},
        )
    return TaskSpec(speaker, text, resolved, output_format, sample_rate, params or {})


def _check_script(language: str, resolved: str, text: str) -> None:
    """Refuse text the language would misread (Chinese characters as English are read as
    "Chinese letter" over and over) rather than speak it wrongly."""
    mismatch = script_mismatch(resolved, text)
    if mismatch is None:
        return
    chosen = f"detected as {resolved!r}" if language == AUTO else f"sent as {resolved!r}"
    if mismatch.detected_language:
        advice = f"send language {mismatch.detected_language!r} (or 'auto')"
    else:
        advice = f"no language of this service speaks {mismatch.script}"
    raise ApiError(
        "LANGUAGE_MISMATCH",
        f"The text, {chosen}, holds {mismatch.script} script ({mismatch.sample!r}), which {resolved!r} cannot "
        f"speak: {advice}",
        details={"language": resolved, "script": mismatch.script, "detected_language": mismatch.detected_language,
                 "sample": mismatch.sample, "scripts": sorted(SCRIPTS[resolved])},
    )  # fmt: skip


def validate_callback(callback_url: str) -> None:
    if not callback_url:
        return
    try:
        check_url(callback_url)
    except BlockedAddress as exc:
        message = f"The callback URL is not allowed: {exc}"
        raise ApiError("INVALID_CALLBACK_URL", message, details={"fields": {"callback_url": [str(exc)]}}) from exc


def _new_task(tenant: Tenant, spec: TaskSpec, *, priority: int, callback_url: str, batch: Batch | None = None) -> Task:
    return Task.objects.create(
        tenant=tenant,
        speaker=spec.speaker,
        text=spec.text,
        characters=len(spec.text),
        language=spec.language,
        priority=priority,
        params=spec.params,
        output_format=spec.output_format,
        sample_rate=spec.sample_rate,
        callback_url=callback_url,
        batch=batch,
    )


def task_create(*, tenant: Tenant, priority: int = 0, callback_url: str = "", **request) -> Task:
    dpa.require_accepted(tenant)
    spec = validate_request(tenant=tenant, **request)
    validate_callback(callback_url)
    with transaction.atomic():
        quotas.reserve_tasks(tenant, tasks=1, characters=len(spec.text))
        task = _new_task(tenant, spec, priority=priority, callback_url=callback_url)
        transaction.on_commit(lambda: _enqueue_task(task))
    return task


def batch_create(*, tenant: Tenant, requests: list[dict], priority: int = 0, callback_url: str = "") -> Batch:
    """All or nothing: every request is validated before any is stored."""
    dpa.require_accepted(tenant)
    validate_callback(callback_url)
    specs, problems = [], {}
    for index, request in enumerate(requests):
        try:
            specs.append(validate_request(tenant=tenant, **request))
        except ApiError as exc:
            problems[str(index)] = exc.as_dict()
    if problems:
        raise ApiError(
            "VALIDATION_ERROR",
            f"{len(problems)} of {len(requests)} requests are invalid; none was queued",
            details={"requests": problems},
        )
    with transaction.atomic():
        quotas.reserve_tasks(tenant, tasks=len(specs), characters=sum(len(spec.text) for spec in specs))
        batch = Batch.objects.create(tenant=tenant, priority=priority, callback_url=callback_url)
        tasks = [_new_task(tenant, spec, priority=priority, callback_url=callback_url, batch=batch) for spec in specs]
        transaction.on_commit(lambda: _enqueue_batch(batch, tasks))
    return batch


def task_job(task: Task) -> tuple[str, str]:
    """The job (and its argument) that runs ``task``, on its voice's engine: its batch's, or its own."""
    if task.batch_id:
        return dispatch.engine_job("batch_high" if task.priority else "batch", task.speaker.engine), str(task.batch_id)
    return dispatch.engine_job("task_high" if task.priority else "task", task.speaker.engine), str(task.id)


def task_enqueue(task: Task, *, delay_seconds: float | None = None) -> bool:
    job, arg = task_job(task)
    return dispatch.send(job, task.tenant.region, arg, delay_seconds=delay_seconds)


def _enqueue_task(task: Task) -> None:
    # Accepted even when the broker is down: the row is the truth, the reconciler sends it later.
    task_enqueue(task)
    publish_task(task, new=True)


def _enqueue_batch(batch: Batch, tasks: list[Task]) -> None:
    # One job per engine among the batch's voices: each runs that engine's items.
    for job in sorted({task_job(task)[0] for task in tasks}):
        dispatch.send(job, batch.tenant.region, str(batch.id))
    for task in tasks:
        publish_task(task, new=True)


def task_cancel(*, task: Task) -> Task:
    """PENDING, or PROCESSING on a worker that stopped heartbeating: cancelled at once.
    PROCESSING on a live worker: it stops at its next sentence."""
    now = timezone.now()
    abandoned = Q(status=TaskStatus.PROCESSING) & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=lease_cutoff()))
    with transaction.atomic():
        cancelled = Task.objects.filter(Q(status=TaskStatus.PENDING) | abandoned, id=task.id).update(
            status=TaskStatus.CANCELLED, finished_at=now, updated_at=now, worker="", heartbeat_at=None
        )
        if cancelled:
            usage.task_finished(task, TaskStatus.CANCELLED)
            batch_item_ended(task)
    if cancelled:
        task.refresh_from_db()
        publish_task(task)
        live_audio.publish_end(task)  # a client already following its stream learns at once
        return task
    if Task.objects.filter(id=task.id, status=TaskStatus.PROCESSING).update(cancel_requested=True):
        task.refresh_from_db()
        return task
    task.refresh_from_db()
    raise ApiError("CONFLICT", f"The task is already {task.status}", details={"status": task.status})


def lease_cutoff() -> datetime:
    """A PROCESSING task whose last heartbeat is older than this has no live worker."""
    return timezone.now() - timedelta(seconds=settings.TASK_LEASE_SECONDS)


def request_hash(body) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def idempotent(*, tenant: Tenant, key: str | None, endpoint: str, body, create: Callable[[], uuid.UUID]):
    """Run ``create`` once per (tenant, endpoint, key) within the TTL; returns (resource id, replayed).

    The same key with another body is a client bug: 409, never a silent replay.
    """
    if not key:
        return create(), False
    if len(key) > 255:
        raise ApiError("VALIDATION_ERROR", "Idempotency-Key is longer than 255 characters")
    digest = request_hash(body)
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    IdempotencyRecord.objects.filter(tenant=tenant, endpoint=endpoint, key=key, created_at__lt=cutoff).delete()
    existing = IdempotencyRecord.objects.filter(tenant=tenant, endpoint=endpoint, key=key).first()
    if existing is None:
        try:
            with transaction.atomic():
                resource_id = create()
                IdempotencyRecord.objects.create(
                    tenant=tenant, endpoint=endpoint, key=key, request_hash=digest, resource_id=resource_id
                )
                return resource_id, False
        except IntegrityError:  # a concurrent request with the same key won the race
            existing = IdempotencyRecord.objects.get(tenant=tenant, endpoint=endpoint, key=key)
    if existing.request_hash != digest:
        raise ApiError(
            "IDEMPOTENCY_CONFLICT",
            "This Idempotency-Key was used with a different request body",
            details={"idempotency_key": key},
        )
    return existing.resource_id, True
