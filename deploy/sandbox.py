"""The whole service started as `make run` starts it, in a scratch directory (tests, benchmarks, fuzzing):
embedded Redis, SQLite under a fresh VAR_DIR, gunicorn, uvicorn, the Dramatiq
workers, the scheduler and Caddy on one free port, under supervisord.

Several such nodes can make one deployment (``live_stacks``): each keeps its own VAR_DIR
and shares only the services it is given (PostgreSQL, Redis) and whatever else the caller
puts in their environment (STORAGE_URL, the secrets)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# What nodes of one deployment share; a stack given none has its own (SQLite, embedded Redis).
SERVICES = ("DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE")


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
    proc: subprocess.Popen | None = field(init=False, default=None)

    def start(self, *, timeout: float = 120) -> None:
        """Start ``deploy/stack.py`` (again, on the same state) and wait until /healthz answers."""
        self.launch()
        self.wait_healthy(timeout=timeout)

    def launch(self) -> None:
        with open(self.log_path, "a") as log:  # a file, not a pipe: a full pipe would block the servers
            self.proc = subprocess.Popen([sys.executable, "deploy/stack.py"], cwd=ROOT, env=self.env,
                                         start_new_session=True, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    def wait_healthy(self, *, timeout: float = 120) -> None:
        assert self.proc is not None, "launch() first"
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
        if self.proc is None:  # never launched
            return 0
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
def live_stack(directory: Path, *, services: dict[str, str] | None = None, **extra_env: str) -> Iterator[LiveStack]:
    with live_stacks([directory], services=services, **extra_env) as (stack,):
        yield stack


@contextmanager
def live_stacks(
    directories: Sequence[Path], *, services: dict[str, str] | None = None, **extra_env: str
) -> Iterator[list[LiveStack]]:
    """One stack per directory, each with its own VAR_DIR and port, all with ``extra_env``.

    ``services`` (keys of SERVICES) are the database and Redis they share; without them each
    has its own SQLite and embedded Redis. The database is migrated once, before any starts
    (nodes migrating one database at the same time would race), then they start side by side."""
    if unknown := set(services or {}) - set(SERVICES):
        raise ValueError(f"not a shared service: {sorted(unknown)}")
    stacks = [_stack(directory, services or {}, extra_env) for directory in directories]
    for env in {stack.env.get("DATABASE_URL") or str(stack.var): stack.env for stack in stacks}.values():
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                       timeout=300)  # fmt: skip
    try:
        for stack in stacks:
            stack.launch()
        for stack in stacks:
            stack.wait_healthy()
        yield stacks
    finally:
        with ThreadPoolExecutor(len(stacks)) as pool:  # side by side: each waits out its workers' grace
            list(pool.map(LiveStack.stop, stacks))


def _stack(directory: Path, services: dict[str, str], extra_env: dict[str, str]) -> LiveStack:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {*SERVICES, "DJANGO_SETTINGS_MODULE"}}
    env.update({"VAR_DIR": str(directory / "var"), "PORT": str(port), "WEB_CONCURRENCY": "2", **services, **extra_env})
    return LiveStack(base=f"http://127.0.0.1:{port}", var=directory / "var", env=env, log_path=directory / "stack.log")
