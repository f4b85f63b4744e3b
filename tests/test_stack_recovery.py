"""No accepted work is lost, on the real `make run` stack: a worker killed with SIGKILL
mid-task, Redis flushed or stopped, the whole stack interrupted and started again.

Short leases (6 s) and grace periods keep each recovery to seconds; the code
paths are those of the defaults. One stack serves the module; the last test
stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import httpx
import pytest
import redis

from deploy.sandbox import ROOT, live_stack
from tests.conftest import REFERENCE

pytestmark = pytest.mark.stack

LONG_TEXT = " ".join(f"This is sentence number {n} of a long narration, read aloud slowly." for n in range(1, 13))
ENV = {
    "TASK_LEASE_SECONDS": "6",
    "RECONCILE_GRACE_SECONDS": "2",
    "WORKER_SHUTDOWN_GRACE_SECONDS": "3",
    "EMBEDDED_VARIANTS": "f3,m3",
}


class HealthWatch:
    """Polls /healthz every 0.2 s in the background and counts failures."""

    def __init__(self, base: str):
        self.base, self.failures, self.checks = base, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            self.checks += 1
            try:
                status = httpx.get(f"{self.base}/healthz", timeout=2).status_code
            except httpx.HTTPError as exc:
                status = repr(exc)
            if status != 200:
                self.failures.append(status)

    def stop(self):
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with live_stack(tmp_path_factory.mktemp("recovery"), **ENV) as live:
        live.manage("createtenant", "acme", "--owner", "alice", "--password", "alice-password-1", "--accept-dpa")
        key = live.manage("createapikey", "--tenant", "acme").strip().splitlines()[-1]
        api = httpx.Client(base_url=live.base, headers={"X-API-Key": key}, timeout=30)
        with open(REFERENCE, "rb") as fh:
            voice = api.post("/api/v1/speakers", data={"name": "narrator", "language": "en", "reference_text": "x"},
                             files={"audio": ("voice.flac", fh, "audio/flac")}).json()  # fmt: skip
        deadline = time.monotonic() + 120
        while api.get(f"/api/v1/speakers/{voice['id']}").json()["status"] == "PROCESSING":
            assert time.monotonic() < deadline, "the voice was not profiled within two minutes"
            time.sleep(0.5)
        yield SimpleNamespace(live=live, api=api, voice=voice["id"])


def _create(stack, text=LONG_TEXT) -> str:
    response = stack.api.post("/api/v1/tasks", json={"text": text, "speaker_id": stack.voice, "language": "en"})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _wait(stack, task_id, *, until, timeout) -> dict:
    deadline = time.monotonic() + timeout
    while not until(task := stack.api.get(f"/api/v1/tasks/{task_id}").json()):
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']} at {task['progress']} %"
        time.sleep(0.2)
    return task


def _finished(task) -> bool:
    return task["status"] in ("DONE", "FAILED", "CANCELLED")


def _attempts(stack, task_id) -> int:
    code = f"from synthesis.models import Task; print(Task.objects.get(id='{task_id}').attempts)"
    return int(stack.live.manage("shell", "-c", code).split()[-1])


def _redis(stack) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(stack.live.var / "redis.sock"), socket_timeout=5)


def test_a_task_whose_worker_is_killed_mid_synthesis_ends_done(stack):
    health = HealthWatch(stack.live.base)
    task_id = _create(stack)
    _wait(stack, task_id, until=lambda t: t["status"] == "PROCESSING" and t["progress"] > 0, timeout=60)
    [worker] = stack.live.worker_processes("worker")

    os.kill(worker, signal.SIGKILL)  # what the OOM killer or a CUDA fault does

    task = _wait(stack, task_id, until=_finished, timeout=120)
    health.stop()
    assert task["status"] == "DONE", task
    assert _attempts(stack, task_id) == 2
    assert stack.api.get(f"/api/v1/tasks/{task_id}/audio").status_code == 200
    assert health.checks > 10
    assert health.failures == []
    assert "RUNNING" in stack.live.supervisorctl("status", "worker")  # restarted by supervisord


def test_every_task_queued_when_redis_is_flushed_ends_done(stack):
    stack.live.supervisorctl("stop", "worker", "worker-high")
    task_ids = [_create(stack, f"Queued task number {n}. It waits for a worker.") for n in range(5)]
    _redis(stack).flushall()  # as a Redis restarted without persistence: every message is gone
    stack.live.supervisorctl("start", "worker", "worker-high")

    tasks = [_wait(stack, task_id, until=_finished, timeout=150) for task_id in task_ids]

    assert [t["status"] for t in tasks] == ["DONE"] * 5  # the reconciler sent them again


def test_the_api_answers_as_documented_while_redis_is_down(stack):
    health = HealthWatch(stack.live.base)
    stack.live.supervisorctl("stop", "redis")
    try:
        accepted = stack.api.post("/api/v1/tasks", json={"text": "Spoken once Redis is back.",
                                                         "speaker_id": stack.voice, "language": "en"})  # fmt: skip
        assert accepted.status_code == 202, accepted.text  # recorded; enqueued by the reconciler later
        task_id = accepted.json()["id"]
        assert stack.api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "PENDING"
        with open(REFERENCE, "rb") as fh:
            voice = stack.api.post("/api/v1/speakers", data={"name": "during", "language": "en", "reference_text": "x"},
                                   files={"audio": ("voice.flac", fh, "audio/flac")})  # fmt: skip
        assert voice.status_code == 201, voice.text  # its profiling job is sent once Redis is back
        for path in ("/api/v1/tasks", "/api/v1/speakers", "/api/v1/usage", f"/api/v1/speakers/{stack.voice}"):
            assert stack.api.get(path).status_code == 200, path
        ready = stack.api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["database"]["ok"]
        assert not ready.json()["checks"]["redis"]["ok"]
        # The synchronous endpoints would wait for a worker that cannot be reached: they say so at once.
        speech = stack.api.post("/v1/audio/speech", json={"model": "tts-1", "voice": "narrator", "input": "Hi."})
        assert speech.status_code == 503, speech.text
        error = speech.json()["error"]
        assert (error["code"], error["category"], error["retryable"]) == ("BROKER_UNAVAILABLE", "SYSTEM", True)
        assert int(speech.headers["Retry-After"]) > 0
    finally:
        stack.live.supervisorctl("start", "redis")
    task = _wait(stack, task_id, until=_finished, timeout=150)
    deadline = time.monotonic() + 60
    while stack.api.get(f"/api/v1/speakers/{voice.json()['id']}").json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "the voice uploaded during the outage was not profiled"
        time.sleep(0.5)
    health.stop()
    assert task["status"] == "DONE"
    assert health.failures == []
    assert stack.api.get("/readyz").json()["status"] == "ok"


def test_an_interrupted_stack_hands_work_back_and_finishes_it_after_a_restart(stack):
    live = stack.live
    task_id = _create(stack)
    _wait(stack, task_id, until=lambda t: t["status"] == "PROCESSING" and t["progress"] > 0, timeout=60)

    assert live.stop(timeout=60) == 0  # Ctrl-C: one graceful stop, within the workers' grace
    assert live.processes() == []
    code = f"from synthesis.models import Task; t = Task.objects.get(id='{task_id}'); print(t.status, t.attempts)"
    assert live.manage("shell", "-c", code).split()[-2:] in (["PENDING", "0"], ["DONE", "1"])  # handed back, or done

    live.start()
    assert _wait(stack, task_id, until=_finished, timeout=120)["status"] == "DONE"

    second = subprocess.run([sys.executable, "deploy/stack.py"], cwd=ROOT, capture_output=True, text=True,
                            env={**live.env, "PORT": "1"}, timeout=60)  # fmt: skip
    assert second.returncode == 1
    assert "Refusing to start" in second.stderr
    assert "already runs a stack" in second.stderr
    assert httpx.get(f"{live.base}/healthz", timeout=5).status_code == 200  # the first one is untouched

    os.kill(live.proc.pid, signal.SIGKILL)  # the launcher itself dies: nothing it started may outlive it
    deadline = time.monotonic() + 60
    while left := live.processes():
        assert time.monotonic() < deadline, f"processes outlived the killed stack: {left}"
        time.sleep(0.5)
