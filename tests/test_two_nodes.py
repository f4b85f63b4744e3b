"""Two nodes of one deployment with no shared disk: each a whole `make run` stack (Caddy,
gunicorn, uvicorn, the workers) with its own VAR_DIR, sharing only PostgreSQL, Redis, an S3
bucket and the secrets. What one node accepts, the other's worker does; what one node's
worker stores, either node serves; a socket on one node follows work done on the other.

It needs a PostgreSQL server (DATABASE_URL, as CI sets it): a scratch database is made on it
for the two nodes and dropped afterwards. The run's SQLite would be a shared disk."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis

from deploy.sandbox import live_stacks
from tests.conftest import REFERENCE

pytestmark = [pytest.mark.stack, pytest.mark.storage]

TEXT = "Good morning. Two machines share this work. Neither keeps a file the other needs."
PUBLIC_BASE_URL = "https://voice.example.test"  # the load balancer's name, the same on both nodes
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3")


@pytest.fixture
def database():
    """A scratch database on the run's PostgreSQL server, for the two nodes only."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("two nodes need a shared PostgreSQL (DATABASE_URL=postgres://…); a shared SQLite is a shared disk")
    import psycopg
    from psycopg import sql

    name = f"sovits_two_nodes_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def redis_namespace():
    """A namespace of its own in the run's Redis, emptied afterwards."""
    namespace = f"sovits-two-nodes-{secrets.token_hex(4)}"
    yield namespace
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(match=f"{namespace}*", count=1000):
        client.delete(key)


@pytest.fixture
def nodes(tmp_path, database, redis_namespace, object_store):
    prefix = f"two-nodes-{secrets.token_hex(4)}"
    env = {
        **object_store.env,
        "STORAGE_URL": f"s3://sovits/{prefix}",
        "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "WEB_CONCURRENCY": "1",
        "EMBEDDED_VARIANTS": "f3,m3",
        # Four worker programs warming up at once cost a 2-core machine half a minute; most never take a job.
        "WORKER_WARM_UP": "0",
        "WORKER_SHUTDOWN_GRACE_SECONDS": "3",
    }
    services = {"DATABASE_URL": database, "REDIS_URL": os.environ["REDIS_URL"], "REDIS_NAMESPACE": redis_namespace}
    with live_stacks([tmp_path / "a", tmp_path / "b"], services=services, **env) as (a, b):
        yield a, b, database, f"{prefix}/"


def _wait(client: httpx.Client, path: str, until: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (found := client.get(path).json())["status"] not in until:
        assert time.monotonic() < deadline, f"{path} still {found['status']} after {timeout} s"
        time.sleep(0.3)
    return found


def _worker_pid(database: str, task_id: str) -> int:
    """The process that ran the task (its claimant, host:pid, stays on the row)."""
    import psycopg

    with psycopg.connect(database) as connection:
        (worker,) = connection.execute("SELECT worker FROM synthesis_task WHERE id = %s", (task_id,)).fetchone()
    return int(worker.rpartition(":")[2])


def _events_until_done(socket, task_id: str, timeout: float = 120) -> list[dict]:
    events, deadline = [], time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        if message["type"] == "task" and message["task"]["id"] == task_id:
            events.append(message["task"])
            if message["task"]["status"] in ("DONE", "FAILED", "CANCELLED"):
                return events


def test_two_nodes_share_work_and_results_through_the_database_redis_and_the_bucket(nodes, object_store):
    from websockets.sync.client import connect

    a, b, database, prefix = nodes
    a.manage("createtenant", "acme", "--owner", "alice", "--password", "alice-password-1", "--accept-dpa")
    key = a.manage("createapikey", "--tenant", "acme").strip().splitlines()[-1]
    api_a = httpx.Client(base_url=a.base, headers={"X-API-Key": key}, timeout=30)
    api_b = httpx.Client(base_url=b.base, headers={"X-API-Key": key}, timeout=30)
    b.supervisorctl("stop", "worker")  # only A's worker takes jobs until B's starts again below

    # A voice uploaded through A is profiled by a worker, and B sees it ready.
    with open(REFERENCE, "rb") as fh:
        voice = api_a.post("/api/v1/speakers", data={"name": "narrator", "language": "en", "reference_text": "x"},
                           files={"audio": ("voice.flac", fh, "audio/flac")})  # fmt: skip
    assert voice.status_code == 201, voice.text
    voice_id = voice.json()["id"]
    assert _wait(api_b, f"/api/v1/speakers/{voice_id}", ("READY", "FAILED"))["status"] == "READY"

    # A task created on B is synthesized by A's worker.
    created = api_b.post("/api/v1/tasks", json={"text": TEXT, "speaker_id": voice_id, "language": "en"})
    assert created.status_code == 202, created.text
    first = created.json()["id"]
    done = _wait(api_b, f"/api/v1/tasks/{first}", ("DONE", "FAILED"))
    assert done["status"] == "DONE", done["error"]
    assert _worker_pid(database, first) in a.worker_processes()

    # Now the other way round: A's worker stops, B's starts (in the background: it takes a while).
    a.supervisorctl("stop", "worker")
    starting = threading.Thread(target=b.supervisorctl, args=("start", "worker"))
    starting.start()

    # Meanwhile: either node serves the result and its signed link, the same bytes.
    audio = {node: api.get(f"/api/v1/tasks/{first}/audio") for node, api in (("a", api_a), ("b", api_b))}
    assert audio["a"].status_code == audio["b"].status_code == 200
    assert audio["a"].content == audio["b"].content
    assert audio["a"].content[:4] == b"RIFF"
    link = urlsplit(done["result_url"])
    assert f"{link.scheme}://{link.netloc}" == PUBLIC_BASE_URL
    for base in (a.base, b.base):
        signed = httpx.get(f"{base}{link.path}?{link.query}", timeout=30)
        assert signed.status_code == 200
        assert signed.content == audio["a"].content
    streamed = httpx.get(f"{a.base}/api/v1/tasks/{first}/stream", headers={"X-API-Key": key}, timeout=30)
    assert streamed.status_code == 200
    assert streamed.content[:4] == b"RIFF"

    # A socket on A (its ticket from B) follows a task that B's worker runs, from queued to done,
    # after waiting quietly for B's worker to start, as a client's socket waits for a queued task.
    ticket = api_b.post("/api/v1/auth/ws-ticket").json()["ticket"]
    with connect(f"ws://{a.base.removeprefix('http://')}/ws/tasks/?ticket={ticket}", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "snapshot"
        starting.join()
        created = api_a.post("/api/v1/tasks", json={"text": TEXT, "speaker_id": voice_id, "language": "en"})
        assert created.status_code == 202, created.text
        second = created.json()["id"]
        events = _events_until_done(socket, second)
    assert events[-1]["status"] == "DONE", events[-1]["error"]
    assert events[-1]["result_url"].startswith(f"{PUBLIC_BASE_URL}/")
    assert "PROCESSING" in [event["status"] for event in events]
    assert any(0 < event["progress"] < 100 for event in events), [event["progress"] for event in events]
    assert _worker_pid(database, second) in b.worker_processes()
    assert api_a.get(f"/api/v1/tasks/{second}/audio").content == api_b.get(f"/api/v1/tasks/{second}/audio").content

    # Every object is in the bucket, sealed; neither node keeps one on its own disk.
    stored = object_store.objects("sovits", prefix)
    kinds = sorted(name.split("/")[-2] for name in stored)
    assert kinds == ["profiles", "references", "results", "results"], sorted(stored)
    for name, data in stored.items():
        assert data.startswith(b"SVE1"), name
        assert not [magic for magic in (b"RIFF", b"fLaC") if magic in data], name
    for node in (a, b):
        files = [path for path in node.var.rglob("*") if path.is_file()]
        assert not [path for path in files if "storage" in path.relative_to(node.var).parts]
        assert not [path for path in files if path.read_bytes().startswith((b"SVE1", *AUDIO_MAGIC))]


def test_nodes_migrating_one_database_at_once_take_turns(database, tmp_path):
    """Web nodes of a new release all migrate as they start: on one PostgreSQL database they
    take turns (an advisory lock in our `migrate`), and all of them start."""
    import subprocess
    import sys

    from deploy.sandbox import ROOT

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DATABASE_URL=database, VAR_DIR=str(tmp_path))
    nodes = [subprocess.Popen([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
    outcomes = [(node.wait(timeout=300), node.stderr.read()) for node in nodes]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    check = subprocess.run([sys.executable, "manage.py", "migrate", "--check"], cwd=ROOT, env=env, timeout=120)
    assert check.returncode == 0  # every migration applied, once
