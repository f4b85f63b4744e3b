from __future__ import annotations

import io

import pytest
import soundfile as sf
from rest_framework.test import APIClient

from tests.conftest import speech_seconds, wait_for_task


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


@pytest.mark.parametrize(
    ("output_format", "sample_rate", "container", "media_type"),
    [
        ("wav", 22050, "WAV", "audio/wav"),
        ("flac", 44100, "FLAC", "audio/flac"),
        ("ogg", 48000, "OGG", "audio/ogg"),
        ("mp3", 24000, "MP3", "audio/mpeg"),
    ],
)
def test_each_output_format_and_rate(tenant_a, voice, worker, output_format, sample_rate, container, media_type):
    task_id = tenant_a.create_task(voice, output_format=output_format, sample_rate=sample_rate).json()["id"]
    assert wait_for_task(task_id).status == "DONE"
    response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/audio")
    assert response["Content-Type"] == media_type
    info = sf.info(io.BytesIO(response.content))
    assert info.format == container
    assert info.samplerate == sample_rate
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert speech_seconds(samples, rate) > 1.0


def test_opus_refuses_a_rate_it_cannot_run_at(tenant_a, voice):
    response = tenant_a.create_task(voice, output_format="ogg", sample_rate=44100)
    assert response.status_code == 400
    assert "sample_rate" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("field", [{"output_format": "aac"}, {"sample_rate": 12345}])
def test_unknown_formats_and_rates_are_refused(tenant_a, voice, field):
    assert tenant_a.create_task(voice, **field).status_code == 400


@pytest.fixture
def done_task(tenant_a, voice, worker):
    task_id = tenant_a.create_task(voice).json()["id"]
    assert wait_for_task(task_id).status == "DONE"
    return tenant_a.client.get(f"/api/v1/tasks/{task_id}").json()


def test_downloads_honour_range_requests(tenant_a, done_task):
    url = f"/api/v1/tasks/{done_task['id']}/audio"
    whole = tenant_a.client.get(url)
    assert whole["Accept-Ranges"] == "bytes"
    size = len(whole.content)
    part = tenant_a.client.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{size}"
    assert part.content == whole.content[100:200]
    tail = tenant_a.client.get(url, HTTP_RANGE="bytes=-50")
    assert tail.content == whole.content[-50:]
    beyond = tenant_a.client.get(url, HTTP_RANGE=f"bytes={size + 10}-")
    assert beyond.status_code == 416
    assert beyond.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"


def test_the_signed_result_url_works_without_credentials_and_cannot_be_forged(done_task):
    anonymous = APIClient()
    url = done_task["result_url"]
    response = anonymous.get(url)
    assert response.status_code == 200
    assert response.content[:4] == b"RIFF"
    assert anonymous.get(url, HTTP_RANGE="bytes=0-3").content == b"RIFF"
    forged = anonymous.get(url[:-4] + "abcd")
    assert forged.status_code == 404


def test_an_expired_result_url_is_410(done_task, settings):
    import time

    time.sleep(1.1)
    settings.RESULT_URL_TTL_SECONDS = 1
    response = APIClient().get(done_task["result_url"])
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "LINK_EXPIRED"


def test_lists_filter_by_date_and_voice(tenant_a, voice):
    from datetime import timedelta

    from django.utils import timezone

    task_id = tenant_a.create_task(voice).json()["id"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    assert tenant_a.client.get("/api/v1/tasks", {"created_after": future}).json()["count"] == 0
    assert tenant_a.client.get("/api/v1/tasks", {"created_after": past}).json()["results"][0]["id"] == task_id
    assert tenant_a.client.get("/api/v1/tasks", {"speaker_id": voice}).json()["count"] == 1
    assert tenant_a.client.get("/api/v1/tasks", {"created_after": "yesterday"}).status_code == 400
