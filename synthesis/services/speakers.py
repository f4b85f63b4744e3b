"""Writes for voices (speakers)."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from sovits_site.errors import ApiError
from synthesis import audio, audio_sandbox, dispatch, object_stores, profiles, storage
from synthesis.engines import EngineInfo, engine_info
from synthesis.engines.base import ModelTooLarge, ModelUnavailable, ReferenceUnusable, UnsupportedLanguage
from synthesis.languages import LANGUAGES
from synthesis.models import Speaker, SpeakerStatus
from synthesis.services import quotas, usage
from synthesis.services.models import model_for_voice, model_load_failed, model_too_large
from tenants import dpa
from tenants.models import Tenant
from tenants.services import audit_record

logger = logging.getLogger(__name__)


def speaker_create(
    *,
    tenant: Tenant,
    name: str,
    language: str,
    reference_text: str,
    audio_bytes: bytes,
    filename: str,
    content_type: str | None = None,
    engine: str | None = None,
    model_id=None,
) -> Speaker:
    dpa.require_accepted(tenant)  # a reference recording is biometric data: the same rule as synthesis
    info = _engine_for_voice(engine)
    supported = info.languages & set(LANGUAGES)
    if language not in supported:
        raise ApiError(
            "UNSUPPORTED_LANGUAGE", f"The {info.name} engine does not speak {language!r}",
            details={"language": language, "supported": sorted(supported), "engine": info.name},
        )  # fmt: skip
    if info.needs_reference_text and not reference_text.strip():
        raise ApiError(
            "VALIDATION_ERROR", f"A {info.name} voice needs the words spoken in the reference (its prompt)",
            details={"fields": {"reference_text": ["Required for this engine: type what the recording says."]}},
        )  # fmt: skip
    model = model_for_voice(tenant=tenant, engine=info.name, model_id=model_id) if info.uses_models else None
    _check_name_free(tenant, name)
    try:
        audio.check_declared_format(audio_bytes, filename=filename, content_type=content_type)
        decoded = audio_sandbox.decode_isolated(audio_bytes, max_seconds=settings.REFERENCE_MAX_SECONDS)
    except audio.AudioDecodeError as exc:
        raise ApiError(
            "INVALID_AUDIO", f"The reference audio cannot be decoded: {exc}. Accepted: {audio.ACCEPTED_DESCRIPTION}",
            details={"accepted_formats": list(audio.ACCEPTED_NAMES)},
        ) from exc  # fmt: skip
    shortest, longest = settings.REFERENCE_MIN_SECONDS, settings.REFERENCE_MAX_SECONDS
    if info.reference_seconds:
        shortest, longest = max(shortest, info.reference_seconds[0]), min(longest, info.reference_seconds[1])
    limits = {"min_seconds": shortest, "max_seconds": longest, "engine": info.name}
    if decoded.duration < shortest:
        raise ApiError(
            "AUDIO_TOO_SHORT",
            f"The reference audio lasts {decoded.duration:.1f} s; at least {shortest:g} s are needed",
            details={"duration_seconds": round(decoded.duration, 2), **limits},
        )
    if decoded.duration > longest:
        found = _full_duration(audio_bytes, decoded)
        raise ApiError(
            "AUDIO_TOO_LONG",
            f"The reference audio lasts {found:.1f} s; {info.name} voices take at most {longest:g} s",
            details={"duration_seconds": round(found, 2), **limits},
        )
    if audio.speech_seconds(decoded.samples, decoded.sample_rate) < audio.MIN_SPEECH_SECONDS:
        raise ApiError(
            "AUDIO_SILENT",
            f"The reference audio holds less than {audio.MIN_SPEECH_SECONDS:g} s of audible speech",
            details={"threshold_dbfs": audio.SILENCE_DBFS},
        )
    clipped = audio.clipped_fraction(decoded.samples)
    if clipped > audio.MAX_CLIPPED_FRACTION:
        raise ApiError(
            "AUDIO_CLIPPED",
            f"{clipped:.1%} of the reference's samples are at full scale: it was recorded too loud",
            details={"clipped_fraction": round(clipped, 4), "max_clipped_fraction": audio.MAX_CLIPPED_FRACTION},
        )
    speech = audio.detect_speech(decoded.samples, decoded.sample_rate)
    if not speech.enough:
        raise ApiError(
            "AUDIO_NO_SPEECH",
            f"No speech was found in the reference audio ({speech.seconds:g} s sound like a voice, "
            f"at least {audio.MIN_SPEECH_SECONDS:g} s are needed): record a person speaking",
            details={"speech_seconds": speech.seconds, "min_speech_seconds": audio.MIN_SPEECH_SECONDS,
                     "loudness_range_db": speech.dynamics_db, "min_loudness_range_db": audio.MIN_DYNAMICS_DB},
        )  # fmt: skip
    object_key = storage.put(tenant=tenant, kind="references", data=audio_bytes)
    try:
        with transaction.atomic():
            quotas.reserve_voice(tenant, size=len(audio_bytes))
            speaker = Speaker.objects.create(
                tenant=tenant,
                name=name,
                language=language,
                reference_text=reference_text,
                engine=info.name,
                model=model,
                status=SpeakerStatus.PROCESSING,
                reference_key=object_key,
                reference_filename=safe_filename(filename),
                reference_bytes=len(audio_bytes),
                duration_seconds=round(decoded.duration, 3),
                sample_rate=decoded.sample_rate,
            )
            transaction.on_commit(lambda: _enqueue_profile(speaker))
    except IntegrityError:
        storage.delete(object_key=object_key)
        _check_name_free(tenant, name)  # a concurrent upload took the name: say so
        raise
    except Exception:
        storage.delete(object_key=object_key)
        raise
    return speaker


def _check_name_free(tenant: Tenant, name: str) -> None:
    """Compatible clients (``/tts``, ``/v1/audio/speech``) pick a voice by its name, compared
    without case: two live voices of a tenant may not share one. A deleted voice's name is free.
    The database's unique index (``speaker_name_once``) settles concurrent uploads."""
    taken = Speaker.objects.filter(tenant=tenant, name__iexact=name, deleted_at__isnull=True).first()
    if taken is not None:
        raise ApiError(
            "VOICE_NAME_TAKEN",
            f"You already have a voice named {taken.name!r}: choose another name or delete that voice first",
            details={"name": name, "speaker_id": str(taken.id),
                     "fields": {"name": ["A voice of yours has this name."]}},
        )  # fmt: skip


def _full_duration(data: bytes, decoded: audio.DecodedAudio) -> float:
    """How long a too-long reference is: decoding stops past the longest accepted length, so
    past that the file's header tells (an estimate for MP3, and never less than was decoded)."""
    try:
        return max(decoded.duration, audio.header_seconds(data))
    except audio.AudioDecodeError:
        return decoded.duration


def safe_filename(name: str) -> str:
    """Only the base name, in safe characters: it is shown back to people, never used as a path."""
    try:
        return get_valid_filename(os.path.basename(name.replace("\\", "/")))[:255]
    except SuspiciousFileOperation:
        return ""


def _engine_for_voice(engine: str | None) -> EngineInfo:
    if engine is None:
        return engine_info()
    if engine not in settings.SYNTHESIS_ENGINES:
        raise ApiError(
            "UNSUPPORTED_ENGINE", f"This deployment does not serve the {engine!r} engine",
            details={"engine": engine, "supported": list(settings.SYNTHESIS_ENGINES),
                     "fields": {"engine": [f"One of {list(settings.SYNTHESIS_ENGINES)}."]}},
        )  # fmt: skip
    return engine_info(engine)


def _enqueue_profile(speaker: Speaker) -> None:
    dispatch.send(dispatch.engine_job("profile", speaker.engine), speaker.tenant.region, str(speaker.id))


def speaker_profile_extract(*, speaker_id) -> None:
    """The profiling job: PROCESSING → READY (profile stored) or FAILED (with an error).

    Idempotent: a redelivered message for a voice that is already profiled, or
    deleted, does nothing.
    """
    speaker = Speaker.objects.select_related("tenant").filter(id=speaker_id, deleted_at__isnull=True).first()
    if speaker is None or speaker.status != SpeakerStatus.PROCESSING:
        return
    try:
        stored = profiles.extract(speaker)
    except (ReferenceUnusable, audio.AudioDecodeError) as exc:
        _speaker_fail(speaker, ApiError("AUDIO_SILENT", f"No voice profile could be made: {exc}"))
        return
    except UnsupportedLanguage as exc:
        _speaker_fail(speaker, ApiError("UNSUPPORTED_LANGUAGE", details={"language": str(exc)}))
        return
    except ModelUnavailable as exc:
        _speaker_fail(speaker, model_load_failed(exc))
        return
    except ModelTooLarge as exc:
        _speaker_fail(speaker, model_too_large(exc))
        return
    except object_stores.StoreUnavailable:
        raise  # the store is away, the voice is fine: Dramatiq tries again (the job is idempotent)
    except Exception as exc:  # an engine crash must not take the worker down
        logger.exception("profile extraction failed for speaker %s", speaker.id)
        _speaker_fail(speaker, ApiError("ENGINE_ERROR", f"Profile extraction failed: {type(exc).__name__}"))
        return
    object_key = storage.put(tenant=speaker.tenant, kind="profiles", data=profiles.serialise(stored))
    # Only the first of two concurrent deliveries wins; the other drops its copy.
    updated = Speaker.objects.filter(id=speaker.id, deleted_at__isnull=True, status=SpeakerStatus.PROCESSING).update(
        status=SpeakerStatus.READY, profile_key=object_key, profile_engine=stored.profile.engine, error=None
    )
    if not updated:
        storage.delete(object_key=object_key)


def _speaker_fail(speaker: Speaker, error: ApiError) -> None:
    Speaker.objects.filter(id=speaker.id).update(status=SpeakerStatus.FAILED, error=error.as_dict())


@transaction.atomic
def speaker_delete(*, speaker: Speaker, actor=None, ip: str | None = None) -> None:
    """Delete the voice's reference audio and hide the voice.

    The row stays (soft-deleted) because finished tasks point at it; queued
    tasks for the voice fail when a worker reaches them.
    """
    speaker.deleted_at = timezone.now()
    if not Speaker.objects.filter(id=speaker.id, deleted_at__isnull=True).update(deleted_at=speaker.deleted_at):
        return  # deleted by a concurrent request: counted and audited there
    usage.stored_bytes_changed(speaker.tenant_id, -speaker.reference_bytes)
    audit_record(tenant=speaker.tenant, actor=actor, action="voice.deleted", target=str(speaker.id), ip=ip,
                 details={"name": speaker.name})  # fmt: skip
    object_keys = [key for key in (speaker.reference_key, speaker.profile_key) if key]
    transaction.on_commit(lambda: [storage.delete(object_key=key) for key in object_keys])
