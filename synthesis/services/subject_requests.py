"""GDPR data-subject requests, each worked by a Dramatiq job with a status.

- access / portability: a zip of machine-readable JSON about the subject's
  voices and the tasks made with them, with the audio decrypted, stored
  encrypted like any other file and handed out through a signed, expiring link;
- erasure: the subject's voices, tasks and files are deleted;
- tenant erasure: at once, nobody can sign in to the workspace or use its keys;
  then the job destroys the tenant's data key first (crypto-shredding: any copy
  of its files, backups included, becomes unreadable), deletes its rows and
  files, and its members' accounts with their sign-in records.
Every request is recorded in the audit log.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from sovits_site.errors import ApiError
from synthesis import dispatch, results, storage
from synthesis.models import Speaker, Task
from synthesis.services import usage
from tenants import key_cache
from tenants.models import ApiKey, AuditEvent, SubjectRequest, Tenant
from tenants.services import audit_record

logger = logging.getLogger(__name__)
_SALT = "subject-request-export"
EXPORT_LINK_TTL = timedelta(days=7)


def request_create(*, tenant: Tenant, kind: str, speaker_ids: list, subject: str, user, ip=None) -> SubjectRequest:
    if kind != SubjectRequest.Kind.TENANT_ERASURE:
        known = set(Speaker.objects.filter(tenant=tenant, id__in=speaker_ids).values_list("id", flat=True))
        missing = [str(s) for s in speaker_ids if s not in known]
        if missing or not speaker_ids:
            problems = missing or ["Required."]
            raise ApiError(
                "VALIDATION_ERROR", "Name the subject's voices", details={"fields": {"speaker_ids": problems}}
            )
    with transaction.atomic():
        request = SubjectRequest.objects.create(
            tenant=tenant, tenant_slug=tenant.slug, kind=kind, subject=subject, requested_by=user,
            speaker_ids=[str(s) for s in speaker_ids], due_at=timezone.now() + timedelta(days=30),
        )  # fmt: skip
        audit_record(tenant=tenant, actor=user, action=f"subject_request.{kind}", target=str(request.id), ip=ip)
        if kind == SubjectRequest.Kind.TENANT_ERASURE:
            _close_workspace(tenant)
        transaction.on_commit(lambda: request_enqueue(request))
    return request


def _members(tenant: Tenant):
    # Operators' accounts are not the tenant's to erase, even where one is also a member.
    return get_user_model().objects.filter(membership__tenant=tenant, is_staff=False, is_superuser=False)


def _close_workspace(tenant: Tenant) -> None:
    """Erasure was asked for: from now on nobody signs in (session, password, JWT, refresh) or
    calls the API with the workspace's keys, though its data goes only when the job runs."""
    _members(tenant).update(is_active=False)
    keys = ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True)
    digests = list(keys.values_list("digest", flat=True))
    keys.update(revoked_at=timezone.now())
    for digest in digests:
        key_cache.forget(digest)


def request_enqueue(request: SubjectRequest) -> bool:
    return dispatch.send("subject_request", request.tenant.region, str(request.id))


def abandoned_before() -> datetime:
    """A request PROCESSING since before this outlived the job's time limit: its worker died."""
    return timezone.now() - timedelta(seconds=settings.SYNTHESIS_TIME_LIMIT_SECONDS + 60)


def request_work(*, request_id) -> None:
    """The job. Idempotent: a finished request, or one a live worker holds, is left alone;
    every step (export, erasure) is safe to run again after a worker died halfway."""
    received = Q(status=SubjectRequest.Status.RECEIVED)
    abandoned = Q(status=SubjectRequest.Status.PROCESSING, started_at__lt=abandoned_before())
    claimed = SubjectRequest.objects.filter(received | abandoned, id=request_id).update(
        status=SubjectRequest.Status.PROCESSING, started_at=timezone.now()
    )
    if not claimed:
        return
    request = SubjectRequest.objects.select_related("tenant").get(id=request_id)
    try:
        if request.kind in (SubjectRequest.Kind.ACCESS, SubjectRequest.Kind.PORTABILITY):
            request.export_key = _export(request)
        elif request.kind == SubjectRequest.Kind.ERASURE:
            _erase_voices(request.tenant, request.speaker_ids)
        else:
            _erase_tenant(request.tenant)
            request.tenant = None  # gone; tenant_slug keeps the record readable
            request.refresh_from_db(fields=["requested_by", "subject"])  # both erased with the members
        request.status = SubjectRequest.Status.DONE
    except Exception as exc:
        logger.exception("subject request %s failed", request.id)
        request.status, request.error = SubjectRequest.Status.FAILED, f"{type(exc).__name__}: {exc}"[:500]
    request.completed_at = timezone.now()
    request.save()
    audit_record(tenant=request.tenant, actor=None, action=f"subject_request.{request.status.lower()}",
                 target=str(request.id), details={"kind": request.kind})  # fmt: skip


def _subject_tasks(tenant: Tenant, speaker_ids: list):
    return Task.objects.filter(tenant=tenant, speaker_id__in=speaker_ids).order_by("created_at")


def _export(request: SubjectRequest) -> str:
    tenant = request.tenant
    speakers = Speaker.objects.filter(tenant=tenant, id__in=request.speaker_ids)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        voices = []
        for speaker in speakers:
            voices.append({"id": str(speaker.id), "name": speaker.name, "language": speaker.language,
                           "reference_text": speaker.reference_text, "created_at": speaker.created_at.isoformat(),
                           "deleted_at": speaker.deleted_at.isoformat() if speaker.deleted_at else None})  # fmt: skip
            if speaker.deleted_at is None and speaker.reference_key:
                data = storage.get(tenant=tenant, object_key=speaker.reference_key)
                archive.writestr(f"voices/{speaker.id}/reference{_suffix(data)}", data)
        tasks = []
        for task in _subject_tasks(tenant, request.speaker_ids):
            tasks.append({"id": str(task.id), "voice_id": str(task.speaker_id), "text": task.text,
                          "language": task.language, "status": task.status, "created_at": task.created_at.isoformat(),
                          "similarity": task.similarity})  # fmt: skip
            if task.result_key:
                archive.writestr(f"tasks/{task.id}.{results.extension(task.output_format)}",
                                 storage.get(tenant=tenant, object_key=task.result_key))  # fmt: skip
        archive.writestr("subject.json", json.dumps({
            "request": {"id": str(request.id), "kind": request.kind, "subject": request.subject,
                        "created_at": request.created_at.isoformat()},
            "tenant": tenant.slug, "voices": voices, "tasks": tasks,
        }, indent=2, ensure_ascii=False))  # fmt: skip
    return storage.put_file(tenant=tenant, kind="exports", file=buffer)


def _suffix(data: bytes) -> str:
    media = {"audio/wav": ".wav", "audio/flac": ".flac", "audio/ogg": ".ogg", "audio/mpeg": ".mp3"}
    from synthesis.audio import media_type

    return media.get(media_type(data), ".bin")


def export_url(request: SubjectRequest, http_request=None) -> str | None:
    if not request.export_key or request.status != SubjectRequest.Status.DONE:
        return None
    token = signing.dumps(str(request.id), salt=_SALT)
    path = reverse("subject-export", kwargs={"token": token})
    return http_request.build_absolute_uri(path) if http_request is not None else path


def export_for_token(token: str) -> tuple[SubjectRequest, Iterator[bytes]]:
    """The request behind a signed link, and its export's plaintext, a chunk at a time."""
    try:
        request_id = signing.loads(token, salt=_SALT, max_age=EXPORT_LINK_TTL.total_seconds())
    except signing.SignatureExpired as exc:
        raise ApiError("LINK_EXPIRED") from exc
    except signing.BadSignature as exc:
        raise ApiError("NOT_FOUND", "No such export") from exc
    request = SubjectRequest.objects.select_related("tenant").filter(id=request_id).first()
    if request is None or request.tenant is None or not request.export_key:
        raise ApiError("NOT_FOUND", "No such export")
    try:
        return request, storage.read(tenant=request.tenant, object_key=request.export_key)
    except storage.StorageError as exc:  # purged meanwhile
        raise ApiError("NOT_FOUND", "No such export") from exc


def _erase_voices(tenant: Tenant, speaker_ids: list) -> None:
    for task in _subject_tasks(tenant, speaker_ids):
        if task.result_key:
            storage.delete(object_key=task.result_key)
        with transaction.atomic():
            if Task.objects.filter(id=task.id).delete()[0]:
                usage.stored_bytes_changed(tenant.id, -task.result_bytes)
                usage.active_task_deleted(task)
    for speaker in Speaker.objects.filter(tenant=tenant, id__in=speaker_ids):
        for key in (speaker.reference_key, speaker.profile_key):
            if key:
                storage.delete(object_key=key)
        with transaction.atomic():
            if Speaker.objects.filter(id=speaker.id).delete()[0] and speaker.deleted_at is None:
                usage.stored_bytes_changed(tenant.id, -speaker.reference_bytes)


def _erase_tenant(tenant: Tenant) -> None:
    # Crypto-shredding first: without its data key, no copy of the tenant's files can be read.
    Tenant.objects.filter(id=tenant.id).update(wrapped_data_key=b"")
    for digest in ApiKey.objects.filter(tenant=tenant).values_list("digest", flat=True):
        key_cache.forget(digest)
    Task.objects.filter(tenant=tenant).delete()
    Speaker.objects.filter(tenant=tenant).delete()
    storage.delete_tenant(tenant)
    _erase_members(tenant)
    tenant.delete()


def _erase_members(tenant: Tenant) -> None:
    """The members' accounts go with their personal data (names, password hashes, sign-in
    records). The workspace's audit trail stays, as the record of what was done, but without
    names or addresses; so do its data-subject requests, without whom they were about."""
    members = _members(tenant)
    user_ids = list(members.values_list("id", flat=True))
    usernames = list(members.values_list("username", flat=True))
    # Refresh tokens already handed out must not outlive the accounts: refreshing one is refused
    # by the blacklist before simplejwt looks for its (gone) user.
    for token in OutstandingToken.objects.filter(user_id__in=user_ids):
        BlacklistedToken.objects.get_or_create(token=token)
    AuditEvent.objects.filter(Q(actor_id__in=user_ids) | Q(actor_label__in=usernames)).update(
        actor_label="erased member"
    )
    AuditEvent.objects.filter(tenant=tenant).update(ip=None)
    SubjectRequest.objects.filter(tenant=tenant).update(subject="")
    for log in (AccessAttempt, AccessFailureLog, AccessLog):
        log.objects.filter(username__in=usernames).delete()
    members.delete()
