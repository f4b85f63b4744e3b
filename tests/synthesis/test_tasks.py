from __future__ import annotations

import io
import time
import uuid

import pytest
import soundfile as sf

from synthesis import results, storage
from synthesis.engines.embedded.engine import EmbeddedEngine
from synthesis.models import Task, TaskStatus
from synthesis.services.runner import task_run
from tests.conftest import speech_seconds, wait_for_task

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


def test_creating_a_task_answers_202_with_a_pending_task(tenant_a, voice):
    response = tenant_a.create_task(voice)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["progress"] == 0
    assert body["result_url"] is None
    assert body["priority"] == 0
    assert body["created_at"]
    assert tenant_a.client.get(f"/api/v1/tasks/{body['id']}").json()["id"] == body["id"]


def test_the_task_list_is_paginated_newest_first(tenant_a, voice):
    ids = [tenant_a.create_task(voice, text=f"Sentence number {i}.").json()["id"] for i in range(3)]
    page = tenant_a.client.get("/api/v1/tasks?page_size=2").json()
    assert page["count"] == 3
    assert [t["id"] for t in page["results"]] == ids[::-1][:2]
    assert page["next"]


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_text_is_refused(tenant_a, voice, text):
    response = tenant_a.create_task(voice, text=text)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_text_over_the_limit_is_refused(tenant_a, voice, settings):
    settings.MAX_TASK_CHARACTERS = 20
    response = tenant_a.create_task(voice, text="This sentence is longer than twenty characters.")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "TEXT_TOO_LONG"


def test_an_unknown_speaker_gets_404(tenant_a):
    response = tenant_a.create_task(uuid.uuid4())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_malformed_speaker_id_is_a_validation_error(tenant_a):
    response = tenant_a.create_task("not-a-uuid")
    assert response.status_code == 400
    assert "speaker_id" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("priority", [2, -1, "high"])
def test_priority_must_be_0_or_1(tenant_a, voice, priority):
    assert tenant_a.create_task(voice, priority=priority).status_code == 400


def test_audio_before_the_task_is_done_is_409(tenant_a, voice):
    task_id = tenant_a.create_task(voice).json()["id"]
    response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/audio")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "TASK_NOT_DONE"
    assert response.json()["error"]["retryable"] is True


def test_a_task_runs_on_the_real_worker_to_a_wav_of_speech(tenant_a, voice, worker):
    text = "Hello there. This is a test of the voice platform, speaking several real words."
    task_id = tenant_a.create_task(voice, text=text).json()["id"]
    task = wait_for_task(task_id)
    assert task.status == TaskStatus.DONE, task.error
    body = tenant_a.client.get(f"/api/v1/tasks/{task_id}").json()
    assert body["progress"] == 100
    assert "/api/v1/results/" in body["result_url"]

    response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/audio")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert sf.info(io.BytesIO(response.content)).format == "WAV"
    assert speech_seconds(samples, rate) >= 1.0
    # stored sealed, not as a WAV
    assert not b"".join(storage.read_sealed(task.result_key)).startswith(b"RIFF")


def test_a_second_delivery_of_a_finished_task_changes_nothing(tenant_a, voice, worker):
    task_id = tenant_a.create_task(voice).json()["id"]
    done = wait_for_task(task_id)
    task_run(task_id=task_id)  # what a redelivered message does
    again = Task.objects.get(id=task_id)
    assert (again.status, again.result_key, again.attempts) == (TaskStatus.DONE, done.result_key, 1)


def test_an_engine_crash_fails_the_task_with_a_retryable_error_and_the_worker_goes_on(
    tenant_a, voice, worker, monkeypatch
):
    calls = {"n": 0}
    real = EmbeddedEngine.synthesize

    def crash_once(self, requests, **callbacks):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated engine crash")
        return real(self, requests, **callbacks)

    monkeypatch.setattr(EmbeddedEngine, "synthesize", crash_once)
    failed = wait_for_task(tenant_a.create_task(voice).json()["id"])
    assert failed.status == TaskStatus.FAILED
    assert failed.error["code"] == "ENGINE_ERROR"
    assert failed.error["retryable"] is True
    body = tenant_a.client.get(f"/api/v1/tasks/{failed.id}").json()
    assert body["error"]["code"] == "ENGINE_ERROR"
    assert tenant_a.client.get(f"/api/v1/tasks/{failed.id}/audio").json()["error"]["code"] == "TASK_FAILED"
    # the same worker still serves the next task
    assert wait_for_task(tenant_a.create_task(voice).json()["id"]).status == TaskStatus.DONE


def test_a_task_whose_voice_was_deleted_fails_cleanly(tenant_a, voice, worker):
    worker.pause()
    task_id = tenant_a.create_task(voice).json()["id"]
    assert tenant_a.client.delete(f"/api/v1/speakers/{voice}").status_code == 204
    worker.resume()
    task = wait_for_task(task_id)
    assert task.status == TaskStatus.FAILED
    assert task.error["code"] == "NOT_FOUND"


def test_the_written_out_task_representation_is_drfs_own(tenant_a, voice):
    """TaskOutputSerializer renders by hand for speed; DRF's generic rendering of its declared
    fields must give the same document for tasks in every shape."""
    from rest_framework import serializers
    from rest_framework.test import APIRequestFactory

    from synthesis.api.tasks import TaskOutputSerializer

    done = tenant_a.create_task(voice, text="Rendered twice.", params={"speed": 1.2}).json()["id"]
    task_run(task_id=done)
    pending = tenant_a.create_task(voice, output_format="ogg", sample_rate=24000).json()["id"]
    batch = tenant_a.client.post("/api/v1/batches", {"requests": [{"speaker_id": voice, "text": "One."}]},
                                 format="json").json()["tasks"][0]["id"]  # fmt: skip
    failed = tenant_a.create_task(voice).json()["id"]
    Task.objects.filter(id=failed).update(status=TaskStatus.FAILED, error={"code": "ENGINE_ERROR"})
    request = APIRequestFactory().get("/api/v1/tasks")
    for task_id in (done, pending, batch, failed):
        serializer = TaskOutputSerializer(context={"request": request})
        task = Task.objects.get(id=task_id)
        fast, generic = serializer.to_representation(task), serializers.Serializer.to_representation(serializer, task)
        # A signed URL carries the second it was made in: compare what it stands for.
        urls = [fast.pop("result_url"), generic.pop("result_url")]
        assert fast == generic
        assert [url and results.task_id_from_token(url.rstrip("/").rsplit("/", 1)[-1]) for url in urls] == [
            task_id if task.status == TaskStatus.DONE else None
        ] * 2
    assert Task.objects.get(id=done).status == TaskStatus.DONE  # result_url was exercised


def test_a_time_limit_handed_back_as_an_items_result_fails_that_task(tenant_a, voice, worker, monkeypatch):
    """A batched engine hands every item the exception its call ended with; Dramatiq's time
    limit is not an Exception, and must still fail the task (not be stored as audio)."""
    from dramatiq.middleware import TimeLimitExceeded

    monkeypatch.setattr(EmbeddedEngine, "synthesize", lambda self, requests, **callbacks: [TimeLimitExceeded()])
    task = wait_for_task(tenant_a.create_task(voice).json()["id"])
    assert task.status == TaskStatus.FAILED
    assert task.error["code"] == "SYNTHESIS_TIMEOUT"


def test_a_long_text_without_full_stops_shows_progress_through_the_api(tenant_a, voice, worker):
    text = ", ".join(["the words go on and on without a stop"] * 40)  # 1,560 characters, no full stop
    task_id = tenant_a.create_task(voice, text=text).json()["id"]
    seen = set()
    deadline = time.monotonic() + 120
    while (task := tenant_a.client.get(f"/api/v1/tasks/{task_id}").json())["status"] not in ("DONE", "FAILED"):
        seen.add(task["progress"])
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert task["status"] == "DONE"
    assert any(0 < value < 100 for value in seen), seen  # it moved, not 0 % until done
