from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from synthesis import storage
from synthesis.models import Speaker
from tests.conftest import LONG_REFERENCE, REFERENCE, SHORT_REFERENCE, encoded

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


def test_uploading_a_voice_gives_201_with_the_voice(tenant_a):
    response = tenant_a.upload_voice(name="Narrator")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Narrator"
    assert body["status"] == "PROCESSING"  # until its profiling job has run
    assert body["duration_seconds"] == pytest.approx(3.595, abs=0.01)
    assert Speaker.objects.get(id=body["id"]).tenant == tenant_a.tenant


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS"), ("MP3", None)])
def test_each_accepted_format_is_decoded(tenant_a, fmt, subtype):
    data = encoded(LONG_REFERENCE, fmt, subtype)
    upload = SimpleUploadedFile(f"voice.{fmt.lower()}", data)
    response = tenant_a.upload_voice(audio=upload)
    assert response.status_code == 201, response.content
    assert response.json()["duration_seconds"] == pytest.approx(15.0, abs=0.2)


def test_the_reference_is_stored_encrypted_and_reads_back(tenant_a):
    speaker = Speaker.objects.get(id=tenant_a.upload_voice().json()["id"])
    original = REFERENCE.read_bytes()
    on_disk = b"".join(storage.read_sealed(speaker.reference_key))
    assert original not in on_disk
    assert not on_disk.startswith((b"fLaC", b"RIFF", b"OggS", b"ID3"))
    assert storage.get(tenant=tenant_a.tenant, object_key=speaker.reference_key) == original


def test_a_non_audio_file_named_wav_is_refused(tenant_a):
    fake = SimpleUploadedFile("voice.wav", b"this is not audio at all, just text pretending" * 50)
    response = tenant_a.upload_voice(audio=fake)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_AUDIO"


def test_a_two_second_clip_is_too_short(tenant_a):
    response = tenant_a.upload_voice(SHORT_REFERENCE)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "AUDIO_TOO_SHORT"
    assert error["details"]["duration_seconds"] == pytest.approx(1.97, abs=0.05)


def test_a_clip_over_thirty_seconds_is_too_long(tenant_a):
    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 40).astype("float32"), 16000, format="FLAC")
    response = tenant_a.upload_voice(audio=SimpleUploadedFile("long.flac", buffer.getvalue()))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "AUDIO_TOO_LONG"


def test_an_upload_over_the_size_cap_gets_413(tenant_a, settings):
    settings.MAX_UPLOAD_BYTES = 50_000
    response = tenant_a.upload_voice(LONG_REFERENCE)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_missing_fields_are_named(tenant_a):
    response = tenant_a.client.post("/api/v1/speakers", {"name": "x"}, format="multipart")
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]
    assert {"audio", "language"} <= set(fields)


def test_an_unknown_language_is_refused(tenant_a):
    response = tenant_a.upload_voice(language="xx")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_list_get_and_delete(tenant_a, django_capture_on_commit_callbacks):
    first = tenant_a.upload_voice(name="one").json()
    second = tenant_a.upload_voice(name="two").json()
    listed = tenant_a.client.get("/api/v1/speakers").json()
    assert [s["id"] for s in listed["results"]] == [second["id"], first["id"]]
    assert tenant_a.client.get(f"/api/v1/speakers/{first['id']}").json()["name"] == "one"

    speaker = Speaker.objects.get(id=first["id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert tenant_a.client.delete(f"/api/v1/speakers/{first['id']}").status_code == 204
    assert tenant_a.client.get(f"/api/v1/speakers/{first['id']}").status_code == 404
    assert [s["id"] for s in tenant_a.client.get("/api/v1/speakers").json()["results"]] == [second["id"]]
    assert not storage.exists(speaker.reference_key)
