"""Malformed and hostile input gets a 4xx envelope, never a 500, a hang or a crash."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from synthesis import audio_sandbox
from synthesis.audio import AudioDecodeError
from synthesis.models import Speaker, Task
from tests.conftest import REFERENCE


def test_a_file_named_mp3_holding_flac_is_refused(tenant_a):
    upload = SimpleUploadedFile("voice.mp3", REFERENCE.read_bytes())
    response = tenant_a.upload_voice(audio=upload)
    assert response.status_code == 400
    assert "named .mp3" in response.json()["error"]["message"]


def test_an_upload_declared_as_another_format_is_refused(tenant_a):
    upload = SimpleUploadedFile("voice", REFERENCE.read_bytes(), content_type="audio/mpeg")
    response = tenant_a.upload_voice(audio=upload)
    assert response.status_code == 400
    assert "declared audio/mpeg" in response.json()["error"]["message"]


def test_file_names_are_sanitised(tenant_a):
    upload = SimpleUploadedFile("../../etc/<script>passwd.flac", REFERENCE.read_bytes())
    speaker = Speaker.objects.get(id=tenant_a.upload_voice(audio=upload).json()["id"])
    assert speaker.reference_filename == "scriptpasswd.flac"


def test_the_decoder_runs_in_a_limited_child_process(monkeypatch):
    decoded = audio_sandbox.decode_isolated(REFERENCE.read_bytes(), max_seconds=30)
    assert decoded.sample_rate == 16000
    assert 3.5 < decoded.duration < 3.7
    with pytest.raises(AudioDecodeError):
        audio_sandbox.decode_isolated(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10, max_seconds=30)
    # A decoder that blows past its memory limit dies alone; the caller gets a clean error.
    monkeypatch.setattr(audio_sandbox, "MEMORY_LIMIT_BYTES", 64 * 1024 * 1024)
    with pytest.raises(AudioDecodeError):
        audio_sandbox.decode_isolated(REFERENCE.read_bytes(), max_seconds=30)


def test_decoding_stops_at_duration_times_rate(tenant_a):
    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).uniform(-0.3, 0.3, 16000 * 200).astype("float32"), 16000, format="FLAC")
    response = tenant_a.upload_voice(audio=SimpleUploadedFile("long.flac", buffer.getvalue()))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "AUDIO_TOO_LONG"


def test_control_characters_are_stripped_and_markup_is_text(tenant_a):
    voice = tenant_a.ready_voice()
    assert tenant_a.create_task(voice, text="nul\x00byte").status_code == 400  # DRF refuses NUL outright
    response = tenant_a.create_task(voice, text="Hello\x07 world\x1b[31m.\n<speak><break time='9s'/>Hi</speak>")
    assert response.status_code == 202, response.content
    text = Task.objects.get(id=response.json()["id"]).text
    assert text == "Hello world[31m.\n<speak><break time='9s'/>Hi</speak>"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{", "application/json"),
        ('{"text": 5, "speaker_id": []}', "application/json"),
        ('{"text": "hi", "speaker_id": "00000000-0000-0000-0000-000000000000", "priority": 1e309}', "application/json"),
        ('{"text": "hi", "speaker_id": "x", "sample_rate": 99999999999999999999999}', "application/json"),
        ('{"text": "hi", "unknown_field": {"deep": [1, 2, 3]}}', "application/json"),
        ("[]", "application/json"),
        ('"just a string"', "application/json"),
        ("text=hi", "text/plain"),
        ("<xml/>", "application/xml"),
    ],
)
def test_malformed_bodies_get_a_4xx_envelope(tenant_a, body, content_type):
    for path in ("/api/v1/tasks", "/api/v1/batches", "/v1/audio/speech", "/tts"):
        response = tenant_a.client.generic("POST", path, body, content_type=content_type)
        assert 400 <= response.status_code < 500, (path, body, response.content)
        assert response.json()["error"]["code"]
