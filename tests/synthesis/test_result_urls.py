"""``result_url`` is one absolute form everywhere: a task, a list, a batch, a live event, a
webhook; and a download is named after its voice and time."""

from __future__ import annotations

import pytest

from synthesis.events import task_state
from synthesis.models import Task
from tests.conftest import wait_for_task

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)

RESULTS = "/api/v1/results/"


@pytest.fixture
def done(tenant_a, worker):
    """A finished task and a finished batch item."""
    voice = tenant_a.ready_voice(name="Élodie's narrator")
    task_id = tenant_a.create_task(voice).json()["id"]
    batch = tenant_a.client.post("/api/v1/batches", {"requests": [{"text": "One item.", "speaker_id": voice}]},
                                 format="json").json()  # fmt: skip
    assert wait_for_task(task_id).status == "DONE"
    assert wait_for_task(batch["tasks"][0]["id"]).status == "DONE"
    return {"task_id": task_id, "batch_id": batch["id"]}


def _every_result_url(client, done) -> dict[str, str]:
    task_id = done["task_id"]
    listed = {t["id"]: t for t in client.get("/api/v1/tasks").json()["results"]}
    return {
        "detail": client.get(f"/api/v1/tasks/{task_id}").json()["result_url"],
        "list": listed[task_id]["result_url"],
        "filtered list": client.get("/api/v1/tasks", {"status": "DONE"}).json()["results"][0]["result_url"],
        "batch item": client.get(f"/api/v1/batches/{done['batch_id']}").json()["tasks"][0]["result_url"],
        "live event": task_state(Task.objects.get(id=task_id))["result_url"],
    }


def test_result_urls_are_absolute_on_the_requests_host_everywhere(tenant_a, done, settings):
    settings.PUBLIC_BASE_URL = ""
    urls = _every_result_url(tenant_a.client, done)
    for where, url in urls.items():
        # A live event has no request: the deployment's own address.
        host = settings.LOCAL_BASE_URL if where == "live event" else "http://testserver"
        assert url.startswith(host + RESULTS), (where, url)


def test_public_base_url_makes_every_result_url_start_with_it(tenant_a, done, settings):
    settings.PUBLIC_BASE_URL = "https://voice.example.com/"
    for where, url in _every_result_url(tenant_a.client, done).items():
        assert url.startswith("https://voice.example.com" + RESULTS), (where, url)
    from rest_framework.test import APIClient

    assert APIClient().get(url.removeprefix("https://voice.example.com")).status_code == 200


def test_a_download_is_named_after_the_voice_and_the_time(tenant_a, done):
    task = Task.objects.get(id=done["task_id"])
    stamp = f"{task.created_at:%Y-%m-%d-%H%M}"
    response = tenant_a.client.get(f"/api/v1/tasks/{task.id}/audio", {"download": "1"})
    assert response.status_code == 200
    # An ASCII name for every client, the real one (RFC 6266 filename*) for those that read it.
    assert response["Content-Disposition"] == (
        f"attachment; filename=\"elodies-narrator-{stamp}.wav\"; filename*=UTF-8''%C3%A9lodies-narrator-{stamp}.wav"
    )
    inline = tenant_a.client.get(f"/api/v1/tasks/{task.id}/audio")
    assert inline["Content-Disposition"].startswith('inline; filename="elodies-narrator-')
