from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile

from synthesis import profiles, storage
from synthesis.models import Speaker, SpeakerStatus, TaskStatus
from tests.conftest import LONG_REFERENCE, wait_for_task, wait_for_voice

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


def flac(samples: np.ndarray, rate: int = 16000) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), rate, format="FLAC")
    return SimpleUploadedFile("voice.flac", buffer.getvalue())


def test_an_upload_is_profiled_by_its_own_job_then_ready(tenant_a, worker):
    response = tenant_a.upload_voice()
    assert response.json()["status"] == "PROCESSING"
    speaker = wait_for_voice(response.json()["id"])
    assert speaker.status == SpeakerStatus.READY, speaker.error
    assert speaker.profile_engine == "embedded"
    sealed = b"".join(storage.read_sealed(speaker.profile_key))
    assert b"embedding" not in sealed
    assert b"pitch" not in sealed
    stored = profiles.deserialise(storage.get(tenant=tenant_a.tenant, object_key=speaker.profile_key))
    assert len(stored.embedding) == 256
    assert tenant_a.client.get(f"/api/v1/speakers/{speaker.id}").json()["status"] == "READY"


def test_a_task_for_a_voice_still_processing_is_409(tenant_a):
    speaker_id = tenant_a.upload_voice().json()["id"]  # no worker: stays PROCESSING
    response = tenant_a.create_task(speaker_id)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "VOICE_NOT_READY"
    assert error["retryable"] is True
    assert error["details"]["status"] == "PROCESSING"


def test_a_failed_voice_refuses_tasks_with_its_reason(tenant_a):
    speaker_id = tenant_a.upload_voice().json()["id"]
    Speaker.objects.filter(id=speaker_id).update(status=SpeakerStatus.FAILED, error={"code": "AUDIO_SILENT"})
    response = tenant_a.create_task(speaker_id)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["error"] == {"code": "AUDIO_SILENT"}


def test_a_silent_reference_is_refused(tenant_a):
    quiet = np.random.default_rng(1).normal(0, 1e-4, 16000 * 5)
    response = tenant_a.upload_voice(audio=flac(quiet))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "AUDIO_SILENT"


def test_a_clipped_reference_is_refused(tenant_a):
    samples, rate = sf.read(LONG_REFERENCE, dtype="float32")
    clipped = np.clip(samples * 40, -1.0, 1.0)
    response = tenant_a.upload_voice(audio=flac(clipped, rate))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "AUDIO_CLIPPED"
    assert error["details"]["clipped_fraction"] > 0.002


def test_a_language_the_engine_lacks_is_refused(tenant_a):
    speaker_id = tenant_a.ready_voice()
    response = tenant_a.create_task(speaker_id, text="Bonjour tout le monde.", language="fr")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "UNSUPPORTED_LANGUAGE"
    assert "en" in error["details"]["supported"]


def test_auto_language_is_resolved_from_the_text(tenant_a):
    speaker_id = tenant_a.ready_voice()
    assert tenant_a.create_task(speaker_id, text="안녕하세요.", language="auto").json()["language"] == "ko"
    assert tenant_a.create_task(speaker_id, text="今日は。", language="auto").json()["language"] == "ja"


def test_done_tasks_record_similarity_and_reuse_the_cached_profile(tenant_a, worker):
    speaker_id = tenant_a.ready_voice()
    profiles.cache.clear()
    first = wait_for_task(tenant_a.create_task(speaker_id).json()["id"])
    second = wait_for_task(tenant_a.create_task(speaker_id, text="Another sentence for the same voice.").json()["id"])
    assert first.status == second.status == TaskStatus.DONE
    assert 0.3 < first.similarity <= 1.0
    assert tenant_a.client.get(f"/api/v1/tasks/{first.id}").json()["similarity"] == first.similarity
    stats = profiles.cache.stats()
    assert stats["misses"] == 1  # loaded from storage once...
    assert stats["hits"] == 1  # ...then served from memory


def test_the_profile_cache_expires_entries_after_its_ttl():
    import time

    cache = profiles.ProfileCache(maxsize=2, ttl=0.05)
    cache.put("a", "profile")
    assert cache.get("a") == "profile"
    time.sleep(0.08)
    assert cache.get("a") is None
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)  # over maxsize: the least recently used goes
    assert cache.get("a") is None
    assert cache.stats()["hits"] == 1
    assert cache.stats()["misses"] == 2
