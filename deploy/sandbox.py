"""The whole service started as `make run` starts it, in a scratch directory (tests, benchmarks, fuzzing):
embedded Redis, SQLite under a fresh VAR_DIR, gunicorn, uvicorn, the Dramatiq
workers, the scheduler and Caddy on one free port, under supervisord."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    log_path: Path
    proc: subprocess.Popen = field(init=False)

    def start(self, *, timeout: float = 120) -> None:
        """Start ``deploy/stack.py`` (again, on the same state) and wait until /healthz answers."""
        with open(self.log_path, "a") as log:  # a file, not a pipe: a full pipe would block the servers
            self.proc = subprocess.Popen([sys.executable, "deploy/stack.py"], cwd=ROOT, env=self.env,
                                         start_new_session=True, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log_path.read_text()[-5000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the stack did not serve /healthz within two minutes"
            time.sleep(0.5)

    def stop(self, timeout: float = 90) -> int:
        """Stop it as Ctrl-C does (waiting for the workers' grace); SIGKILL what is left after ``timeout``."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def supervisorctl(self, *args: str) -> str:
        conf = self.var / "run" / "supervisord.conf"
        done = subprocess.run([str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        return done.stdout

    def worker_processes(self, program: str = "worker") -> list[int]:
        """The Dramatiq worker processes (children of the program's main process) that run jobs."""
        main = int(self.supervisorctl("pid", program).strip())
        return [int(pid) for pid in Path(f"/proc/{main}/task/{main}/children").read_text().split()]

    def processes(self) -> list[int]:
        """Every process started for this stack (they all carry its VAR_DIR in their environment)."""
        marker = f"VAR_DIR={self.var.resolve()}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "environ").read_bytes().split(b"\0"):
                        found.append(int(entry.name))
                except OSError:  # gone meanwhile, or not ours to read
                    pass
        return found

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
    stack = LiveStack(base=f"http://127.0.0.1:{port}", var=directory / "var", env=env, log_path=directory / "stack.log")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
