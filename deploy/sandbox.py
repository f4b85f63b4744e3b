"""The whole service started as `make run` starts it, in a scratch directory (tests, benchmarks, fuzzing):
embedded Redis, SQLite under a fresh VAR_DIR, gunicorn, daphne, the Dramatiq
worker and Caddy on one free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveStack:
    base: str
    var: Path
    env: dict[str, str]
    proc: subprocess.Popen

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout


@contextmanager
def live_stack(directory: Path, **extra_env: str):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE", "DJANGO_SETTINGS_MODULE"}}  # fmt: skip
    env.update(VAR_DIR=str(directory / "var"), PORT=str(port), WEB_CONCURRENCY="2", **extra_env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=120)  # fmt: skip
    log_path = directory / "stack.log"
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would block the servers
        proc = subprocess.Popen([sys.executable, "deploy/stack.py"], cwd=ROOT, env=env, start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        stack = LiveStack(base=f"http://127.0.0.1:{port}", var=directory / "var", env=env, proc=proc)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{stack.base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the stack did not serve /healthz within two minutes"
                time.sleep(0.5)
            yield stack
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
