"""Writes for voices (speakers)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis import audio, storage
from synthesis.languages import LANGUAGES
from synthesis.models import Speaker, SpeakerStatus
from tenants.models import Tenant


def speaker_create(
    *, tenant: Tenant, name: str, language: str, reference_text: str, audio_bytes: bytes, filename: str
) -> Speaker:
    if language not in LANGUAGES:
        raise ApiError("UNSUPPORTED_LANGUAGE", details={"language": language, "supported": sorted(LANGUAGES)})
    try:
        decoded = audio.decode(audio_bytes, max_seconds=settings.REFERENCE_MAX_SECONDS)
    except audio.AudioDecodeError as exc:
        raise ApiError("INVALID_AUDIO", f"The reference audio cannot be decoded: {exc}") from exc
    limits = {"min_seconds": settings.REFERENCE_MIN_SECONDS, "max_seconds": settings.REFERENCE_MAX_SECONDS}
    if decoded.duration < settings.REFERENCE_MIN_SECONDS:
        raise ApiError(
            "AUDIO_TOO_SHORT",
            f"The reference audio lasts {decoded.duration:.1f} s;"
            f" at least {settings.REFERENCE_MIN_SECONDS:g} s are needed",
            details={"duration_seconds": round(decoded.duration, 2), **limits},
        )
    if decoded.duration > settings.REFERENCE_MAX_SECONDS:
        raise ApiError(
            "AUDIO_TOO_LONG",
            f"The reference audio lasts over {settings.REFERENCE_MAX_SECONDS:g} s, the most allowed",
            details=limits,
        )
    object_key = storage.put(tenant=tenant, kind="references", data=audio_bytes)
    try:
        return Speaker.objects.create(
            tenant=tenant,
            name=name,
            language=language,
            reference_text=reference_text,
            status=SpeakerStatus.READY,
            reference_key=object_key,
            reference_filename=filename,
            reference_bytes=len(audio_bytes),
            duration_seconds=round(decoded.duration, 3),
            sample_rate=decoded.sample_rate,
        )
    except Exception:
        storage.delete(object_key=object_key)
        raise


@transaction.atomic
def speaker_delete(*, speaker: Speaker) -> None:
    """Delete the voice's reference audio and hide the voice.

    The row stays (soft-deleted) because finished tasks point at it; queued
    tasks for the voice fail when a worker reaches them.
    """
    speaker.deleted_at = timezone.now()
    speaker.save(update_fields=["deleted_at"])
    object_key = speaker.reference_key
    transaction.on_commit(lambda: storage.delete(object_key=object_key))
