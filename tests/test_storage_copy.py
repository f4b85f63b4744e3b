"""``manage.py storage_copy``: a deployment's objects moved from a folder to a bucket and back,
after which STORAGE_URL alone serves every old result and voice; resumable and verified."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.management import CommandError, call_command

from synthesis import object_stores, profiles, storage
from synthesis.models import Speaker, Task, TaskStatus
from tests.conftest import TenantWorld, wait_for_task


@pytest.fixture
def folder(settings, tmp_path) -> str:
    """A deployment storing in a fresh folder (the default layout), whatever this run stores in."""
    url = str(tmp_path / "storage")
    serve_from(settings, url)
    return object_stores.normalise(url)


@pytest.fixture
def tenant_us(folder, db) -> TenantWorld:
    return TenantWorld("usco", region="us")


@pytest.fixture
def s3(object_store, monkeypatch):
    """The test S3 server as this process's S3 (the boto3 client is made once per process)."""
    for name, value in object_store.env.items():
        monkeypatch.setenv(name, value)
    object_stores.reset_clients()
    yield object_store
    object_stores.reset_clients()


def serve_from(settings, url: str) -> None:
    """The storage settings of a deployment given only ``STORAGE_URL=url``."""
    settings.STORAGE_URL = object_stores.normalise(url)
    settings.STORAGE_URLS = {region: object_stores.join(url, region) for region in settings.REGIONS}


def bucket_url() -> str:
    return f"s3://sovits/copy-{uuid.uuid4().hex[:12]}"


def copy(*args: str) -> dict:
    out = io.StringIO()
    call_command("storage_copy", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def counts(report: dict) -> tuple[int, int, int]:
    return report["total"]["copied"], report["total"]["already_there"], report["total"]["failed"]


def wav(n: int) -> bytes:
    """A fifth of a second of a tone of its own: real, distinct audio for each result."""
    t = np.arange(4800) / 24000
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * np.sin(2 * np.pi * (200 + n) * t), 24000, format="WAV")
    return buffer.getvalue()


def done_task(world: TenantWorld, voice_id: str, data: bytes, key: str | None = None) -> str:
    """A finished task whose result is ``data``, as if a worker had made it."""
    key = key or storage.put(tenant=world.tenant, kind="results", data=data)
    return str(Task.objects.create(tenant=world.tenant, speaker_id=voice_id, text="Copied.", characters=7,
                                   language="en", status=TaskStatus.DONE, result_key=key, result_bytes=len(data),
                                   duration_seconds=0.2).id)  # fmt: skip


def legacy_result(world: TenantWorld, voice_id: str, data: bytes) -> str:
    """A task whose result was stored before regions existed (its key has none)."""
    key = f"{world.tenant.id}/results/{uuid.uuid4().hex}.bin"
    storage.store(None).write(key, [storage.seal(world.tenant, data, key)])
    return done_task(world, voice_id, data, key=key)


def served(worlds: dict[str, TenantWorld], tasks: dict[str, str], voices: dict[str, str]) -> dict[str, bytes]:
    """Every result and voice reference as the API gives it, by id."""
    answers = {}
    for path, owners in (("tasks/{}/audio", tasks), ("speakers/{}/audio", voices)):
        for item, owner in owners.items():
            response = worlds[owner].client.get("/api/v1/" + path.format(item))
            assert response.status_code == 200, (path.format(item), response.content[:300])
            answers[item] = response.content
    return answers


def files(url: str) -> int:
    return sum(1 for _ in object_stores.open_store(url).list())


def test_a_folder_deployment_moves_to_a_bucket_and_back(folder, settings, tmp_path, tenant_a, tenant_us, worker, s3):
    worlds = {"eu": tenant_a, "us": tenant_us}
    voices = {world.ready_voice(): region for region, world in worlds.items()}
    voice_of = {region: voice for voice, region in voices.items()}
    synthesised = [world.create_task(voice_of[region]).json()["id"] for region, world in worlds.items()]
    tasks = {}
    for task_id in synthesised:
        task = wait_for_task(task_id)
        assert task.status == TaskStatus.DONE, task.error
        tasks[task_id] = task.tenant.region
    for n in range(93):
        region = "eu" if n < 60 else "us"
        tasks[done_task(worlds[region], voice_of[region], wav(n))] = region
    tasks[legacy_result(tenant_a, voice_of["eu"], wav(999))] = "eu"
    assert files(folder) == 100  # 4 voice objects, 2 synthesised results, 93 attached ones, 1 without a region
    before = served(worlds, tasks, voices)
    to = bucket_url()

    planned = copy("--to", to, "--dry-run")
    assert planned["total"]["copied"] == 100
    assert len([key for part in planned["parts"].values() for key in part["would_copy"]]) == 100
    assert s3.objects("sovits", to.removeprefix("s3://sovits/")) == {}

    report = copy("--to", to)
    assert counts(report) == (100, 0, 0)
    assert report["total"]["bytes_copied"] == sum(entry.size for entry in object_stores.open_store(folder).list())
    assert {label: part["copied"] for label, part in report["parts"].items()} == {
        "cn": 0, "eu": 2 + 1 + 60, "us": 2 + 1 + 33, "legacy": 1,
    }  # fmt: skip

    assert counts(copy("--to", to)) == (0, 100, 0)

    # An interrupted or tampered copy: one object differs (same size), one is missing.
    altered = Task.objects.get(id=next(iter(tasks))).result_key
    region, _, name = altered.partition("/")
    destination = object_stores.open_store(object_stores.join(to, region))
    sealed = b"".join(destination.read(name))
    destination.write(name, [sealed[:-1] + bytes([sealed[-1] ^ 1])])
    deleted = Speaker.objects.get(id=voice_of["us"]).reference_key
    object_stores.open_store(object_stores.join(to, "us")).delete(deleted.partition("/")[2])
    assert counts(copy("--to", to)) == (2, 98, 0)

    serve_from(settings, to)
    assert served(worlds, tasks, voices) == before
    profiles.cache.clear()
    for voice in voices:
        assert profiles.load(Speaker.objects.get(id=voice)) is not None  # read and decrypted from the bucket

    back = tmp_path / "back"
    returned = copy("--to", str(back))
    assert counts(returned) == (100, 0, 0)
    assert returned["parts"]["legacy"]["copied"] == 1  # the bucket's region prefixes are not taken for legacy keys
    serve_from(settings, str(back))
    assert files(str(back)) == 100
    assert served(worlds, tasks, voices) == before


@pytest.mark.parametrize("where", ["{storage}", "{storage}/eu", "{storage}/eu/more", "{storage}/backup"])
def test_a_destination_inside_what_is_copied_is_refused(folder, where):
    to = where.format(storage=folder.removeprefix("file://").rstrip("/"))
    with pytest.raises(CommandError, match="Refused: the destination"):
        call_command("storage_copy", "--to", to)


def test_a_region_store_inside_the_default_folder_is_not_copied_as_legacy_objects(folder, settings, tenant_a,
                                                                                   tmp_path):  # fmt: skip
    settings.STORAGE_URLS = {**settings.STORAGE_URLS, "eu": object_stores.join(folder, "europe")}
    key = storage.put(tenant=tenant_a.tenant, kind="results", data=b"in europe")
    to = tmp_path / "copy"
    report = copy("--to", str(to))
    assert report["parts"]["eu"]["copied"] == 1
    assert report["parts"]["legacy"]["copied"] == 0
    serve_from(settings, str(to))
    assert storage.get(tenant=tenant_a.tenant, object_key=key) == b"in europe"


def test_one_region_alone_is_copied_and_failures_are_listed_and_fail_the_run(folder, tenant_a, tenant_us, tmp_path):
    storage.put(tenant=tenant_a.tenant, kind="results", data=b"eu")
    us_keys = {storage.put(tenant=tenant_us.tenant, kind="results", data=bytes([n]) * 100) for n in range(3)}
    to = tmp_path / "us-only"
    report = copy("--to", str(to), "--region", "us")
    assert list(report["parts"]) == ["us"]
    assert report["total"]["copied"] == 3
    assert files(str(to)) == 3
    assert not (to / "eu").exists()

    blocked = tmp_path / "blocked"
    (blocked / "us").mkdir(parents=True)
    Path(blocked / "us" / str(tenant_us.tenant.id)).write_bytes(b"a file where a folder must go")
    with pytest.raises(CommandError, match=r"3 object\(s\) failed to copy") as failure:
        call_command("storage_copy", "--to", str(blocked), "--region", "us", stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
    for key in us_keys:
        assert key in str(failure.value)


def test_a_copy_that_reads_back_differently_fails_and_is_redone(folder, tenant_a, tmp_path, monkeypatch):
    key = storage.put(tenant=tenant_a.tenant, kind="results", data=b"x" * 5000)
    to = tmp_path / "flaky"
    write = object_stores.LocalStore.write

    def flipping(store, name, chunks):  # a disk that loses a bit on the way
        if store.root != to / "eu":
            return write(store, name, chunks)
        data = b"".join(chunks)
        return write(store, name, [data[:-1], bytes([data[-1] ^ 1])])

    monkeypatch.setattr(object_stores.LocalStore, "write", flipping)
    with pytest.raises(CommandError, match=rf"1 object\(s\) failed to copy.*\n  {key}: StoreError: read back"):
        call_command("storage_copy", "--to", str(to), stdout=io.StringIO(), stderr=io.StringIO())
    monkeypatch.setattr(object_stores.LocalStore, "write", write)
    assert counts(copy("--to", str(to))) == (1, 0, 0)
