"""Data regions: a tenant's files stay under its region's storage root and its jobs on
its region's queues, which only workers started for that region consume."""

from __future__ import annotations

import os
import time

import dramatiq
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from deploy import stack
from synthesis import queues, storage
from synthesis.models import Speaker, Task, TaskStatus
from synthesis.services.retention import purge
from tenants.models import Tenant
from tests.conftest import TenantWorld, wait_for_task

pytestmark = pytest.mark.storage  # run again on a real S3 server (make test)


@pytest.fixture
def tenant_us(db) -> TenantWorld:
    return TenantWorld("usco", region="us")


def test_each_tenants_files_are_in_its_regions_store_only(tenant_a, tenant_us):
    assert tenant_a.tenant.region == settings.DEFAULT_REGION == "eu"

    def owners(region: str) -> set[str]:
        return {entry.name.split("/")[0] for entry in storage.store(region).list()}

    for world in (tenant_a, tenant_us):
        speaker = Speaker.objects.get(id=world.ready_voice())
        region = world.tenant.region
        for key in (speaker.reference_key, speaker.profile_key):
            assert key.startswith(f"{region}/{world.tenant.id}/")
            assert storage.store(region).stat(key.partition("/")[2]) is not None
    assert str(tenant_us.tenant.id) in owners("us")
    assert str(tenant_us.tenant.id) not in owners("eu")
    assert str(tenant_a.tenant.id) not in owners("us") | owners("cn")


def test_a_file_copied_into_another_region_does_not_decrypt(tenant_a):
    key = storage.put(tenant=tenant_a.tenant, kind="results", data=b"voice data")
    moved = "us/" + key.partition("/")[2]
    storage.write_sealed(moved, storage.read_sealed(key))
    assert storage.get(tenant=tenant_a.tenant, object_key=key) == b"voice data"
    with pytest.raises(storage.StorageError, match="cannot be decrypted"):
        storage.get(tenant=tenant_a.tenant, object_key=moved)


def test_objects_stored_before_regions_existed_still_read(tenant_a):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from tenants import keys

    legacy_key = f"{tenant_a.tenant.id}/results/{'a' * 32}.bin"  # the layout without a region
    nonce = os.urandom(12)  # sealed in one piece, as the first version of storage did
    data_key = keys.unwrap(tenant_a.tenant.wrapped_data_key, str(tenant_a.tenant.id))
    sealed = storage.MAGIC + nonce + AESGCM(data_key).encrypt(nonce, b"old", legacy_key.encode())
    storage.store(None).write(legacy_key, [sealed])  # the default store, by its full key
    assert storage.get(tenant=tenant_a.tenant, object_key=legacy_key) == b"old"


def test_a_region_worker_runs_only_its_regions_tasks(transactional_db, tenant_a, tenant_us):
    import synthesis.actors  # noqa: F401 - declares the queues (alone, this test had nothing else import them)

    broker = dramatiq.get_broker()
    broker.flush_all()
    eu_voice, us_voice = tenant_a.ready_voice(), tenant_us.ready_voice()
    eu_queues = set(queues.of_regions(["eu"], queues.ENGINES))
    eu_worker = dramatiq.Worker(broker, queues=eu_queues, worker_threads=1, worker_timeout=100)
    eu_worker.start()
    try:
        us_task = tenant_us.create_task(us_voice, text="Stay in America.").json()["id"]
        eu_tasks = [
            tenant_a.create_task(eu_voice, text="Stay in Europe.").json()["id"],
            tenant_a.create_task(eu_voice, text="Urgent, in Europe.", priority=1).json()["id"],
        ]
        assert [wait_for_task(task_id).status for task_id in eu_tasks] == [TaskStatus.DONE] * 2
        time.sleep(1)  # the us task was queued first: an eu worker would have taken it by now
        assert Task.objects.get(id=us_task).status == TaskStatus.PENDING
    finally:
        eu_worker.stop()
    us_queues = set(queues.of_regions(["us"], queues.ENGINES))
    us_worker = dramatiq.Worker(broker, queues=us_queues, worker_threads=1, worker_timeout=100)
    us_worker.start()
    try:
        task = wait_for_task(us_task)
    finally:
        us_worker.stop()
        broker.flush_all()
    assert task.status == TaskStatus.DONE
    assert task.result_key.startswith(f"us/{tenant_us.tenant.id}/results/")


def test_a_worker_started_for_a_region_listens_to_its_queues_only():
    env = {**stack._env(), "WORKER_REGIONS": "us"}
    commands = dict(stack._commands(env, "worker"))
    for name in ("worker", "worker-high"):
        listened = commands[name][commands[name].index("--queues") + 1 :]
        assert listened
        assert all(queue.startswith("us.") for queue in listened), listened
    assert set(commands["worker"][commands["worker"].index("--queues") + 1 :]) == {
        "us.embedded.synthesis", "us.embedded.synthesis.high", "us.embedded.profiles", "us.webhooks",
        "us.maintenance",
    }  # fmt: skip
    assert commands["worker-high"][-1] == "us.embedded.synthesis.high"
    everywhere = dict(stack._commands({**stack._env(), "WORKER_REGIONS": ""}, "worker"))["worker"]
    assert {"cn.embedded.synthesis", "eu.embedded.synthesis", "us.embedded.synthesis"} <= set(everywhere)


def test_a_gpu_worker_listens_to_its_engines_queues_only():
    env = {**stack._env(), "WORKER_REGIONS": "eu", "SYNTHESIS_ENGINES": "embedded,gpt-sovits"}
    both = dict(stack._commands(env, "worker"))["worker"]
    assert {"eu.embedded.synthesis", "eu.gpt-sovits.synthesis", "eu.gpt-sovits.profiles"} <= set(both)
    gpu = dict(stack._commands({**env, "WORKER_ENGINES": "gpt-sovits"}, "worker"))
    listened = gpu["worker"][gpu["worker"].index("--queues") + 1 :]
    assert set(listened) == {
        "eu.gpt-sovits.synthesis", "eu.gpt-sovits.synthesis.high", "eu.gpt-sovits.profiles", "eu.webhooks",
        "eu.maintenance",
    }  # fmt: skip
    assert gpu["worker-high"][-1] == "eu.gpt-sovits.synthesis.high"


def test_purging_one_region_leaves_the_others_alone(tenant_a, tenant_us):
    from datetime import timedelta

    from django.utils import timezone

    ids = {}
    for world in (tenant_a, tenant_us):
        task_id = world.create_task(world.ready_voice()).json()["id"]
        Task.objects.filter(id=task_id).update(status=TaskStatus.DONE, created_at=timezone.now() - timedelta(days=40))
        ids[world.tenant.region] = task_id
    assert purge(region="us").tasks == [ids["us"]]
    assert Task.objects.filter(id=ids["eu"]).exists()
    assert purge(region="eu").tasks == [ids["eu"]]


def test_the_region_is_chosen_at_creation(db, capsys):
    call_command("createtenant", "sino", "--owner", "li", "--password", "pw-li-1", "--region", "cn")
    assert Tenant.objects.get(slug="sino").region == "cn"
    assert "in region cn" in capsys.readouterr().out
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("createtenant", "mars", "--owner", "m", "--password", "pw-m-1", "--region", "mars")
    call_command("createtenant", "plain", "--owner", "p", "--password", "pw-p-1")
    assert Tenant.objects.get(slug="plain").region == settings.DEFAULT_REGION


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ({"REGIONS": "eu,mars"}, "REGIONS must be among"),
        ({"REGIONS": "us", "DEFAULT_REGION": "eu"}, "include DEFAULT_REGION"),
        ({"STORAGE_ROOT_EU": "{tmp}/shared", "STORAGE_ROOT_US": "{tmp}/shared/us"}, "_US must not be inside"),
        ({"STORAGE_URL_EU": "s3://voices/", "STORAGE_URL_US": "s3://voices/us"}, "_US must not be inside"),
        ({"STORAGE_URL": "{tmp}/all", "STORAGE_URL_EU": "{tmp}/all"}, "_EU must not be STORAGE_URL or hold it"),
        ({"STORAGE_URL": "s3://voices/old", "STORAGE_URL_EU": "s3://voices"}, "_EU must not be STORAGE_URL or hold"),
        ({"STORAGE_URL": "ftp://voices/"}, "storage URLs are s3://bucket/prefix"),
        ({"STORAGE_URL_US": "s3:///prefix"}, "names no bucket"),
    ],
)
def test_region_settings_that_would_lose_data_refuse_to_start(tmp_path, extra, complaint):
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sovits_site.settings.base", "VAR_DIR": str(tmp_path)}
    env.update({name: value.format(tmp=tmp_path) for name, value in extra.items()})
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0
    assert complaint in done.stderr
