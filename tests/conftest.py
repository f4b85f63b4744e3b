from __future__ import annotations

import io
import time
from pathlib import Path

import dramatiq
import numpy as np
import pytest
import soundfile as sf
from rest_framework.test import APIClient

from synthesis import storage
from synthesis.models import Speaker, SpeakerStatus, Task, TaskStatus
from synthesis.services.speakers import speaker_profile_extract
from tenants import dpa
from tenants.models import Role
from tenants.services import api_key_create, member_create, tenant_create

VOICES = Path(__file__).parent / "fixtures" / "voices"
REFERENCE = VOICES / "118-121721-0000.flac"
LONG_REFERENCE = VOICES / "1688-142285-0000.flac"
SHORT_REFERENCE = VOICES / "19-198-0000.flac"


_profiles: dict[Path, tuple[bytes, str]] = {}


class TenantWorld:
    """A tenant with an owner and an API key, and an API client signed in with that key."""

    def __init__(self, slug: str, region: str | None = None):
        self.tenant = tenant_create(slug=slug, region=region)
        self.owner = member_create(
            tenant=self.tenant, username=f"{slug}-owner", password="pw-" + slug, role=Role.OWNER
        ).user
        self.password = "pw-" + slug
        self.key = api_key_create(tenant=self.tenant, name="tests").secret
        dpa.accept(tenant=self.tenant, user=self.owner)
        self.client = APIClient()
        self.client.credentials(HTTP_X_API_KEY=self.key)
        self.uploads = 0

    def ready_voice(self, path: Path = REFERENCE, **fields) -> str:
        """Upload a voice and give it its real profile at once (no worker needed); returns its id.
        Embedded profiles are extracted once per file per run (the expensive step); others
        (bound to a model registered by the test) every time."""
        response = self.upload_voice(path, **fields)
        assert response.status_code == 201, response.content
        speaker = Speaker.objects.get(id=response.json()["id"])
        if speaker.engine != "embedded":
            speaker_profile_extract(speaker_id=speaker.id)
            speaker.refresh_from_db()
            assert speaker.status == SpeakerStatus.READY, speaker.error
        elif path not in _profiles:
            speaker_profile_extract(speaker_id=speaker.id)
            speaker.refresh_from_db()
            assert speaker.status == SpeakerStatus.READY, speaker.error
            _profiles[path] = (storage.get(tenant=self.tenant, object_key=speaker.profile_key), speaker.profile_engine)
        else:
            raw, engine = _profiles[path]
            key = storage.put(tenant=self.tenant, kind="profiles", data=raw)
            Speaker.objects.filter(id=speaker.id).update(
                status=SpeakerStatus.READY, profile_key=key, profile_engine=engine
            )
        return str(speaker.id)

    def upload_voice(self, path: Path = REFERENCE, **fields):
        # A tenant's live voices have distinct names: the second unnamed upload is "narrator 2".
        self.uploads += 1
        default = "narrator" if self.uploads == 1 else f"narrator {self.uploads}"
        data = {"name": fields.pop("name", default), "language": "en", "reference_text": "a reference", **fields}
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


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    """One `make run` stack (deploy.sandbox.live_stack) for the modules that need the running
    service but not a fresh one of their own: the browser modules and streaming. Started on first
    use, stopped at the end of the run. Each module works in tenants, users and voices of its own
    and counts nothing across the deployment, so none sees another's work; a new module's tenant
    slugs must not contain another's (test_browser finds "acme" and "rival" in the console by
    substring). The voice search is cut to two candidates, as in the other test stacks (the same
    code path, about 3 s a voice instead of 13); tests/test_stack.py and tests/test_readme.py run
    the default on fresh stacks."""
    from deploy.sandbox import live_stack

    with live_stack(tmp_path_factory.mktemp("shared-stack"), EMBEDDED_VARIANTS="f3,m3") as live:
        yield live


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The tests on the shared stack run last, one module after another (their order kept), so that
    it is not left idling beside the stacks that other modules start and stop."""
    shared = {id(item) for item in items if "shared_stack" in getattr(item, "fixturenames", ())}
    items[:] = [item for item in items if id(item) not in shared] + [item for item in items if id(item) in shared]


@pytest.fixture
def worker(transactional_db):
    """A real Dramatiq worker on the real (Redis) broker, in this process, for one test."""
    import synthesis.actors  # noqa: F401 - declares the actors and so the queues the worker consumes

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
        if task.status in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s (status {task.status})")


def wait_for_voice(speaker_id, *, timeout: float = 120.0) -> Speaker:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        speaker = Speaker.objects.get(id=speaker_id)
        if speaker.status != SpeakerStatus.PROCESSING:
            return speaker
        time.sleep(0.1)
    raise AssertionError(f"voice {speaker_id} still PROCESSING after {timeout} s")


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


def assert_word_timestamps(task: Task) -> list[list]:
    """A DONE task's stored word timestamps are ordered, inside its audio, and cover every
    letter and digit of its text; returns them."""
    from synthesis.models import TaskTimestamps

    words = TaskTimestamps.objects.get(task=task).words
    assert words, "no word timestamps"
    starts = [start for start, *_ in words]
    assert starts == sorted(starts)
    covered = set()
    for start, end, first, last in words:
        assert 0 <= start <= end <= task.duration_seconds, (start, end, task.duration_seconds)
        assert 0 <= first < last <= len(task.text)
        covered.update(range(first, last))
    missing = [ch for i, ch in enumerate(task.text) if ch.isalnum() and i not in covered]
    assert not missing, f"characters with no word timing: {''.join(missing)!r}"
    return words
