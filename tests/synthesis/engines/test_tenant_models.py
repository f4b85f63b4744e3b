"""Tenants' own GPT-SoVITS models: uploaded, stored encrypted, checked by a worker, used by
their voices only, refused when hostile, counted, deleted, erased. Tiny random pairs."""

from __future__ import annotations

import io
import pathlib
import pickle

import torch
from rest_framework.test import APIClient

from synthesis import storage
from synthesis.models import ModelStatus, SpeakerStatus, SynthesisModel, TaskStatus
from tenants.models import AuditEvent, Quota
from tests.conftest import REFERENCE, wait_for_task, wait_for_voice
from tests.synthesis.engines.test_gpt_sovits import TRANSCRIPT
from tests.synthesis.test_subject_requests import wait_for_request


def _upload(world, pair=None, *, gpt: bytes | None = None, sovits: bytes | None = None, name="mine"):
    files = {
        "gpt": io.BytesIO(gpt if gpt is not None else pair["gpt"].read_bytes()),
        "sovits": io.BytesIO(sovits if sovits is not None else pair["sovits"].read_bytes()),
    }
    files["gpt"].name, files["sovits"].name = "model.ckpt", "model.pth"
    return world.client.post("/api/v1/models", {"name": name, **files}, format="multipart")


def _wait_for_model(model_id, timeout=120.0) -> SynthesisModel:
    import time

    deadline = time.monotonic() + timeout
    while (model := SynthesisModel.objects.get(id=model_id)).status == ModelStatus.PROCESSING:
        assert time.monotonic() < deadline, "model still PROCESSING"
        time.sleep(0.1)
    return model


def test_a_tenants_own_model_speaks_for_its_voices_only(gpt_sovits, tenant_a, tenant_b, worker):
    pair = gpt_sovits["pairs"]["v2"]
    response = _upload(tenant_a, pair)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["base"], body["stored_bytes"] > 0) == ("PROCESSING", False, True)
    model = _wait_for_model(body["id"])
    assert (model.status, model.version) == (ModelStatus.READY, "v2"), model.error
    # Stored encrypted: neither file's bytes are on disk as uploaded.
    for key, plain in ((model.gpt_key, pair["gpt"]), (model.sovits_key, pair["sovits"])):
        stored = b"".join(storage.read_sealed(key))
        assert plain.read_bytes()[:4096] not in stored
    assert tenant_a.client.get("/api/v1/usage").json()["quotas"]["models"]["used"] == 1

    voice = tenant_a.upload_voice(engine="gpt-sovits", reference_text=TRANSCRIPT, model_id=str(model.id))
    assert voice.status_code == 201, voice.content
    assert wait_for_voice(voice.json()["id"]).status == SpeakerStatus.READY
    task = wait_for_task(tenant_a.create_task(voice.json()["id"], text="Hello world.").json()["id"], timeout=180)
    assert task.status == TaskStatus.DONE, task.error

    # Tenant B: not listed, 404 to read or delete, and no voice of B may use it.
    assert str(model.id) not in {m["id"] for m in tenant_b.client.get("/api/v1/models").json()}
    assert tenant_b.client.get(f"/api/v1/models/{model.id}").status_code == 404
    assert tenant_b.client.delete(f"/api/v1/models/{model.id}").status_code == 404
    theirs = tenant_b.upload_voice(engine="gpt-sovits", reference_text=TRANSCRIPT, model_id=str(model.id))
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "NOT_FOUND"

    # Deleting it: refused while a voice speaks through it, then its files go.
    assert tenant_a.client.delete(f"/api/v1/models/{model.id}").json()["error"]["code"] == "CONFLICT"
    assert tenant_a.client.delete(f"/api/v1/speakers/{voice.json()['id']}").status_code == 204
    assert tenant_a.client.delete(f"/api/v1/models/{model.id}").status_code == 204
    assert not storage.exists(model.gpt_key)
    assert not storage.exists(model.sovits_key)
    actions = set(AuditEvent.objects.filter(target=str(model.id)).values_list("action", flat=True))
    assert actions == {"model.uploaded", "model.deleted"}


class _RunsCode:
    """Unpickling this would call ``Path.touch(marker)``: a stand-in for any code a pickle can run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_hostile_or_broken_files_are_refused_without_running_anything(gpt_sovits, tenant_a, worker, tmp_path):
    pair = gpt_sovits["pairs"]["v2"]
    gpt, sovits = pair["gpt"].read_bytes(), pair["sovits"].read_bytes()

    v4 = _upload(tenant_a, gpt=gpt, sovits=b"04" + sovits[2:], name="v4")
    assert v4.status_code == 400
    assert v4.json()["error"]["code"] == "UNSUPPORTED_MODEL_VERSION"
    assert v4.json()["error"]["details"]["found"] == "v4"
    audio = _upload(tenant_a, gpt=gpt, sovits=REFERENCE.read_bytes(), name="audio")
    assert audio.json()["error"]["code"] == "MODEL_INVALID"

    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"weight": {}, "config": _RunsCode(marker), "info": ""}, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    altered = bytearray(sovits)
    middle = len(altered) // 2
    altered[middle : middle + 512] = bytes(512)
    checked = {
        "code on load": _upload(tenant_a, gpt=gpt, sovits=buffer.getvalue(), name="evil").json()["id"],
        "altered bytes": _upload(tenant_a, gpt=gpt, sovits=bytes(altered), name="altered").json()["id"],
        "swapped files": _upload(tenant_a, gpt=sovits, sovits=gpt, name="swapped").json()["id"],
    }
    for what, model_id in checked.items():
        model = _wait_for_model(model_id)
        assert model.status == ModelStatus.FAILED, what
        assert model.error["code"] == "MODEL_INVALID", (what, model.error)
    assert not marker.exists()
    failed = tenant_a.client.get(f"/api/v1/models/{checked['code on load']}").json()
    assert failed["status"] == "FAILED"
    assert "not model weights" in failed["error"]["message"]


def test_models_count_against_their_own_quota(gpt_sovits, tenant_a):
    Quota.objects.filter(tenant=tenant_a.tenant).update(model_pairs=1)
    pair = gpt_sovits["pairs"]["v2"]
    assert _upload(tenant_a, pair, name="one").status_code == 202
    second = _upload(tenant_a, pair, name="two")
    assert second.status_code == 429
    assert second.json()["error"]["details"]["quota"] == "models"
    assert _upload(tenant_a, pair, name="one").json()["error"]["code"] == "CONFLICT"
    assert SynthesisModel.objects.filter(tenant=tenant_a.tenant).count() == 1


def test_tenant_erasure_leaves_no_readable_copy_of_its_models(gpt_sovits, tenant_a, worker):
    model_id = _upload(tenant_a, gpt_sovits["pairs"]["v2"]).json()["id"]
    model = _wait_for_model(model_id)
    owner = APIClient()
    owner.login(username=tenant_a.owner.username, password=tenant_a.password)
    filed = owner.post("/api/v1/privacy/requests", {"kind": "tenant_erasure"}, format="json")
    assert wait_for_request(filed.json()["id"]).status == "DONE"
    assert not SynthesisModel.objects.filter(id=model.id).exists()
    assert not storage.exists(model.gpt_key)
    assert not storage.exists(model.sovits_key)


def test_a_model_upload_past_the_size_cap_is_413(gpt_sovits, tenant_a, settings):
    settings.MODEL_MAX_BYTES = 1024 * 1024
    response = _upload(tenant_a, gpt_sovits["pairs"]["v2"])
    assert response.status_code == 413
    assert response.json()["error"]["details"]["max_bytes"] == 1024 * 1024
    assert not SynthesisModel.objects.exists()


def test_the_purge_removes_failed_uploads_after_the_retention_days_and_keeps_the_rest(tenant_a):
    from datetime import timedelta

    from django.utils import timezone

    from synthesis.services.retention import purge

    def stored_model(name, status, days_old):
        keys = [storage.put(tenant=tenant_a.tenant, kind="models", data=b"PK" + name.encode()) for _ in range(2)]
        model = SynthesisModel.objects.create(tenant=tenant_a.tenant, name=name, status=status, gpt_key=keys[0],
                                              sovits_key=keys[1])  # fmt: skip
        SynthesisModel.objects.filter(id=model.id).update(created_at=timezone.now() - timedelta(days=days_old))
        return model

    old_failure = stored_model("old failure", ModelStatus.FAILED, tenant_a.tenant.retention_days + 1)
    new_failure = stored_model("new failure", ModelStatus.FAILED, 1)
    old_ready = stored_model("old but ready", ModelStatus.READY, 400)
    # Two hours on, the files are older than the orphan walk's grace: only a reference keeps them.
    report = purge(region=tenant_a.tenant.region, now=timezone.now() + timedelta(hours=2))
    assert report.failed_models == [str(old_failure.id)]
    assert not storage.exists(old_failure.gpt_key)
    assert set(SynthesisModel.objects.values_list("name", flat=True)) == {"new failure", "old but ready"}
    for model in (new_failure, old_ready):  # not orphans: the walk knows model files
        assert storage.exists(model.gpt_key)
        assert storage.exists(model.sovits_key)
