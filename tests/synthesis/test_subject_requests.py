"""GDPR requests end to end on the real worker: export, erasure, tenant crypto-shredding."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
import soundfile as sf
from rest_framework.test import APIClient

from synthesis import storage
from synthesis.models import Speaker, Task
from tenants.models import AuditEvent, SubjectRequest, Tenant
from tests.conftest import wait_for_task

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


@pytest.fixture
def owner(tenant_a):
    client = APIClient()
    client.login(username=tenant_a.owner.username, password=tenant_a.password)
    return client


def wait_for_request(request_id, timeout=60) -> SubjectRequest:
    deadline = time.monotonic() + timeout
    while (row := SubjectRequest.objects.get(id=request_id)).status in ("RECEIVED", "PROCESSING"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return row


def test_an_export_zip_holds_the_subjects_records_and_playable_audio(tenant_a, owner, worker):
    voice = tenant_a.ready_voice()
    other = tenant_a.ready_voice(name="someone else")
    mine = wait_for_task(tenant_a.create_task(voice, text="About the subject.").json()["id"])
    wait_for_task(tenant_a.create_task(other, text="Not about the subject.").json()["id"])
    filed = owner.post("/api/v1/privacy/requests", {"kind": "access", "subject": "Jane", "speaker_ids": [voice]},
                       format="json")  # fmt: skip
    assert filed.status_code == 202
    assert filed.json()["due_at"]
    done = wait_for_request(filed.json()["id"])
    assert done.status == "DONE", done.error
    url = owner.get(f"/api/v1/privacy/requests/{done.id}").json()["export_url"]
    response = APIClient().get(url)  # the signed link alone
    assert response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)  # streamed as it is decrypted
    assert int(response["Content-Length"]) == len(body)
    archive = zipfile.ZipFile(io.BytesIO(body))
    record = json.loads(archive.read("subject.json"))
    assert [t["id"] for t in record["tasks"]] == [str(mine.id)]
    assert record["tasks"][0]["text"] == "About the subject."
    assert [v["id"] for v in record["voices"]] == [voice]
    result = archive.read(f"tasks/{mine.id}.wav")
    samples, rate = sf.read(io.BytesIO(result))
    assert len(samples) / rate > 1.0
    assert any(name.startswith(f"voices/{voice}/reference") for name in archive.namelist())
    assert AuditEvent.objects.filter(action="subject_request.access", tenant=tenant_a.tenant).exists()


def test_after_erasure_no_row_or_file_of_the_subject_remains(tenant_a, owner, worker):
    voice = tenant_a.ready_voice()
    task = wait_for_task(tenant_a.create_task(voice).json()["id"])
    speaker = Speaker.objects.get(id=voice)
    files = [speaker.reference_key, speaker.profile_key, task.result_key]
    filed = owner.post("/api/v1/privacy/requests", {"kind": "erasure", "speaker_ids": [voice]}, format="json")
    assert wait_for_request(filed.json()["id"]).status == "DONE"
    assert not Speaker.objects.filter(id=voice).exists()
    assert not Task.objects.filter(id=task.id).exists()
    assert not any(storage.exists(key) for key in files)


def test_after_tenant_erasure_its_files_cannot_be_decrypted(tenant_a, owner, worker, tmp_path):
    voice = tenant_a.ready_voice()
    speaker = Speaker.objects.get(id=voice)
    backup = tmp_path / "backup.bin"
    backup.write_bytes(b"".join(storage.read_sealed(speaker.reference_key)))  # a copy left in a backup
    filed = owner.post("/api/v1/privacy/requests", {"kind": "tenant_erasure"}, format="json")
    done = wait_for_request(filed.json()["id"])
    assert done.status == "DONE", done.error
    assert not Tenant.objects.filter(id=tenant_a.tenant.id).exists()
    assert not storage.exists(speaker.reference_key)
    # restore the backup copy: with the data key destroyed it is noise
    storage.write_sealed(speaker.reference_key, [backup.read_bytes()])
    # The only wrapped data key lived in the tenant's row; it was blanked, then the row went.
    assert not Tenant.objects.filter(wrapped_data_key=bytes(tenant_a.tenant.wrapped_data_key)).exists()
    shredded = Tenant(id=tenant_a.tenant.id, slug="alpha", wrapped_data_key=b"")
    with pytest.raises(storage.StorageError, match="cannot be decrypted"):
        storage.get(tenant=shredded, object_key=speaker.reference_key)
    assert done.tenant_slug == "alpha"


def test_only_the_owner_files_requests(tenant_a):
    response = tenant_a.client.post("/api/v1/privacy/requests", {"kind": "tenant_erasure"}, format="json")
    assert response.status_code == 403
    assert not SubjectRequest.objects.exists()


def test_the_request_list_has_the_shape_of_every_list(tenant_a, owner):
    voice = tenant_a.upload_voice().json()["id"]
    for subject in ("Jane", "John"):
        owner.post("/api/v1/privacy/requests", {"kind": "access", "subject": subject, "speaker_ids": [voice]},
                   format="json")  # fmt: skip
    page = owner.get("/api/v1/privacy/requests", {"page_size": 1}).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 2
    assert [r["subject"] for r in page["results"]] == ["John"]  # newest first
    assert page["next"]


def _tokens(world) -> dict:
    return APIClient().post("/api/v1/auth/token", {"username": world.owner.username, "password": world.password},
                            format="json").json()  # fmt: skip


def test_asking_to_erase_the_workspace_closes_it_at_once(tenant_a, owner):
    from django.test import Client

    from tenants.models import Role
    from tenants.services import member_create

    member_create(tenant=tenant_a.tenant, username="alpha-member", password="pw-member", role=Role.MEMBER)
    member = Client()
    assert member.login(username="alpha-member", password="pw-member")
    access = _tokens(tenant_a)["access"]
    filed = owner.post("/api/v1/privacy/requests", {"kind": "tenant_erasure"}, format="json")
    assert filed.status_code == 202  # no worker: the data is still there, the doors are shut
    assert owner.get("/api/v1/speakers").status_code in (401, 403)  # this browser is signed out
    assert owner.get("/voices/").status_code == 302
    erased = owner.get("/erased/")
    assert erased.status_code == 200
    assert "Workspace erased" in erased.content.decode()
    assert tenant_a.tenant.name in erased.content.decode()
    assert member.get("/api/v1/speakers").status_code in (401, 403)  # the other members too
    login = APIClient().post("/api/v1/auth/token", {"username": "alpha-member", "password": "pw-member"},
                             format="json")  # fmt: skip
    assert login.status_code == 401
    assert not Client().login(username=tenant_a.owner.username, password=tenant_a.password)
    assert APIClient().get("/api/v1/speakers", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    assert tenant_a.client.get("/api/v1/speakers").status_code == 401  # its API keys
    assert Tenant.objects.filter(id=tenant_a.tenant.id).exists()


def test_workspace_erasure_removes_the_members_accounts_and_their_personal_data(tenant_a, owner, worker):
    from django.contrib.auth import get_user_model

    from tenants.models import Role
    from tenants.services import member_create

    member_create(tenant=tenant_a.tenant, username="alpha-member", password="pw-member", role=Role.MEMBER)
    refresh = _tokens(tenant_a)["refresh"]
    voice = tenant_a.upload_voice().json()["id"]
    owner.post("/api/v1/privacy/requests", {"kind": "access", "subject": "Jane Doe", "speaker_ids": [voice]},
               format="json", REMOTE_ADDR="203.0.113.9")  # fmt: skip
    filed = owner.post("/api/v1/privacy/requests", {"kind": "tenant_erasure"}, format="json",
                       REMOTE_ADDR="203.0.113.9")  # fmt: skip
    done = wait_for_request(filed.json()["id"])
    assert done.status == "DONE", done.error
    users = get_user_model().objects.filter(username__in=[tenant_a.owner.username, "alpha-member"])
    assert not users.exists()
    # What was done stays on record, without who it was about, who did it or from where.
    events = AuditEvent.objects.filter(target=str(done.id))
    assert events.filter(action="subject_request.tenant_erasure").exists()
    kept = list(AuditEvent.objects.values_list("actor_label", "ip"))
    assert all(label not in (tenant_a.owner.username, "alpha-member") and ip != "203.0.113.9"
               for label, ip in kept), kept  # fmt: skip
    assert not SubjectRequest.objects.filter(subject="Jane Doe").exists()
    assert done.tenant_slug == "alpha"
    refreshed = APIClient().post("/api/v1/auth/token/refresh", {"refresh": refresh}, format="json")
    assert refreshed.status_code == 401
    login = APIClient().post("/api/v1/auth/token", {"username": "alpha-member", "password": "pw-member"},
                             format="json")  # fmt: skip
    assert login.status_code == 401
