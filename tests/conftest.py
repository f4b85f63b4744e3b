from __future__ import annotations

import io
import time
from pathlib import Path

import dramatiq
import numpy as np
import pytest
import soundfile as sf
from rest_framework.test import APIClient

from synthesis.models import Task, TaskStatus
from tenants.models import Role
from tenants.services import api_key_create, member_create, tenant_create

VOICES = Path(__file__).parent / "fixtures" / "voices"
REFERENCE = VOICES / "118-121721-0000.flac"
LONG_REFERENCE = VOICES / "1688-142285-0000.flac"
SHORT_REFERENCE = VOICES / "19-198-0000.flac"


class TenantWorld:
    """A tenant with an owner and an API key, and an API client signed in with that key."""

    def __init__(self, slug: str):
        self.tenant = tenant_create(slug=slug)
        self.owner = member_create(
            tenant=self.tenant, username=f"{slug}-owner", password="pw-" + slug, role=Role.OWNER
        ).user
        self.password = "pw-" + slug
        self.key = api_key_create(tenant=self.tenant, name="tests").secret
        self.client = APIClient()
        self.client.credentials(HTTP_X_API_KEY=self.key)

    def upload_voice(self, path: Path = REFERENCE, **fields):
        data = {"name": fields.pop("name", "narrator"), "language": "en", "reference_text": "a reference", **fields}
        with open(path, "rb") as fh:
            data.setdefault("audio", fh)
            return self.client.post("/api/v1/speakers", data, format="multipart")

    def create_task(self, speaker_id, text="Hello there. This is a test of the voice platform.", **fields):
        return self.client.post(
            "/api/v1/tasks", {"text": text, "speaker_id": str(speaker_id), "language": "en", **fields}, format="json"
        )


@pytest.fixture
def tenant_a(db) -> TenantWorld:
    return TenantWorld("alpha")


@pytest.fixture
def tenant_b(db) -> TenantWorld:
    return TenantWorld("bravo")


@pytest.fixture
def worker(transactional_db):
    """A real Dramatiq worker on the real (Redis) broker, in this process, for one test."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()


def wait_for_task(task_id, *, timeout: float = 60.0) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = Task.objects.get(id=task_id)
        if task.status in (TaskStatus.DONE, TaskStatus.FAILED):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s (status {task.status})")


def encoded(path: Path, fmt: str, subtype: str | None = None) -> bytes:
    """The clip at ``path`` re-encoded as ``fmt`` (WAV, FLAC, OGG, MP3)."""
    samples, rate = sf.read(path, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def speech_seconds(samples: np.ndarray, rate: int, *, threshold_db: float = -40.0) -> float:
    """Seconds of audio whose 20 ms frames are louder than ``threshold_db`` dBFS."""
    frame = int(0.02 * rate)
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = 20 * np.log10(np.maximum(rms, 1e-10)) > threshold_db
    return float(loud.sum() * frame / rate)
