from __future__ import annotations

import time

import pytest

from synthesis.engines.embedded.engine import EmbeddedEngine
from synthesis.models import Task, TaskStatus
from tests.conftest import wait_for_task

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


def wait_for_batch(client, batch_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/batches/{batch_id}").json()
        if body["status"] not in ("PENDING", "PROCESSING"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} unfinished: {body['status']}")


def test_a_batch_of_ten_completes_with_per_item_results_in_engine_batch_calls(tenant_a, voice, worker, monkeypatch):
    batch_sizes = []
    real = EmbeddedEngine.synthesize

    def spy(self, requests, **callbacks):  # records the call, runs the real engine
        batch_sizes.append(len(requests))
        return real(self, requests, **callbacks)

    monkeypatch.setattr(EmbeddedEngine, "synthesize", spy)
    requests = [{"text": f"Item number {i}. It has two sentences.", "speaker_id": voice} for i in range(10)]
    response = tenant_a.client.post("/api/v1/batches", {"requests": requests}, format="json")
    assert response.status_code == 202, response.content
    created = response.json()
    assert created["total"] == 10
    assert {t["status"] for t in created["tasks"]} <= {"PENDING", "PROCESSING", "DONE"}

    done = wait_for_batch(tenant_a.client, created["id"])
    assert done["status"] == "DONE"
    assert (done["done"], done["failed"], done["progress"]) == (10, 0, 100)
    assert [t["text"] for t in done["tasks"]] == [r["text"] for r in requests]
    for task in done["tasks"]:
        assert task["batch_id"] == created["id"]
        assert task["result_url"]
        assert tenant_a.client.get(f"/api/v1/tasks/{task['id']}/audio").status_code == 200
    assert batch_sizes == [8, 2]  # BATCH_ENGINE_SIZE items per engine call


def test_a_batch_is_validated_all_or_nothing(tenant_a, voice):
    requests = [{"text": "Fine.", "speaker_id": voice}] * 3 + [{"text": "  ", "speaker_id": voice}]
    response = tenant_a.client.post("/api/v1/batches", {"requests": requests}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["details"]["requests"]) == ["3"]
    assert not Task.objects.filter(tenant=tenant_a.tenant).exists()


def test_an_empty_or_malformed_batch_is_refused(tenant_a):
    assert tenant_a.client.post("/api/v1/batches", {"requests": []}, format="json").status_code == 400
    assert tenant_a.client.post("/api/v1/batches", {"requests": "nope"}, format="json").status_code == 400


def test_the_same_idempotency_key_returns_the_same_task_and_another_body_is_409(tenant_a, voice):
    body = {"text": "Say this once.", "speaker_id": voice}
    first = tenant_a.client.post("/api/v1/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = tenant_a.client.post("/api/v1/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Task.objects.filter(tenant=tenant_a.tenant).count() == 1
    other = tenant_a.client.post(
        "/api/v1/tasks", {**body, "text": "Something else."}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    fresh = tenant_a.client.post("/api/v1/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert fresh.json()["id"] != first.json()["id"]


def test_idempotency_keys_work_for_batches_and_belong_to_one_tenant(tenant_a, tenant_b, voice):
    body = {"requests": [{"text": "One.", "speaker_id": voice}]}
    first = tenant_a.client.post("/api/v1/batches", body, format="json", HTTP_IDEMPOTENCY_KEY="b-1")
    again = tenant_a.client.post("/api/v1/batches", body, format="json", HTTP_IDEMPOTENCY_KEY="b-1")
    assert first.json()["id"] == again.json()["id"]
    # the same key from another tenant is another key (and B cannot see A's voice)
    foreign = tenant_b.client.post("/api/v1/batches", body, format="json", HTTP_IDEMPOTENCY_KEY="b-1")
    assert foreign.status_code == 400


def test_cancelling_a_pending_task(tenant_a, voice):
    task_id = tenant_a.create_task(voice).json()["id"]
    response = tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    again = tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"


def test_a_processing_task_stops_at_the_next_sentence(tenant_a, voice, worker):
    text = " ".join(f"This is sentence number {i} of a long text." for i in range(60))
    task_id = tenant_a.create_task(voice, text=text).json()["id"]
    deadline = time.monotonic() + 60
    while Task.objects.get(id=task_id).progress == 0:  # wait until it is really speaking
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel").json()["status"] == "PROCESSING"
    task = wait_for_task(task_id)
    assert task.status == TaskStatus.CANCELLED
    assert task.progress < 100
    assert not task.result_key


def test_a_cancelled_task_answers_task_cancelled_which_is_not_retryable(tenant_a, voice):
    task_id = tenant_a.create_task(voice).json()["id"]
    assert tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel").json()["status"] == "CANCELLED"
    for what in ("audio", "stream", "timestamps", "subtitles"):
        response = tenant_a.client.get(f"/api/v1/tasks/{task_id}/{what}")
        assert response.status_code == 409, (what, response.content)
        error = response.json()["error"]
        assert (error["code"], error["retryable"]) == ("TASK_CANCELLED", False), what


def test_a_stream_waiting_for_a_queued_task_ends_when_it_is_cancelled(transactional_db, tenant_a, voice, settings):
    """No worker runs: the stream waits for the task to start; the cancel ends the wait
    within seconds with TASK_CANCELLED (not a 504 after SYNC_WAIT_SECONDS)."""
    import threading

    settings.SYNC_WAIT_SECONDS = 20
    task_id = tenant_a.create_task(voice).json()["id"]
    answer = {}

    def follow():
        answer["response"] = tenant_a.client.get(f"/api/v1/tasks/{task_id}/stream")

    follower = threading.Thread(target=follow)
    started = time.monotonic()
    follower.start()
    time.sleep(1.0)  # the follower is waiting on the task's live stream
    assert tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel").json()["status"] == "CANCELLED"
    follower.join(timeout=30)
    assert time.monotonic() - started < 10
    response = answer["response"]
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "TASK_CANCELLED"
