"""Priority benchmark: how long a priority-1 task waits behind a backlog of priority-0 tasks.

Starts the whole stack as `make run` does (one worker deployment: the main
Dramatiq worker plus its thread reserved for the high-priority queue) in a
temporary directory, queues BACKLOG priority-0 tasks, then submits priority-1
tasks one at a time while the backlog drains and measures each one's wait
(`started_at - created_at`). Prints JSON. Run: ``.venv/bin/python bench/priority.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VOICE = ROOT / "tests" / "fixtures" / "voices" / "1688-142285-0000.flac"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--probes", type=int, default=15, help="priority-1 tasks submitted during the backlog")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="sovits-priority-"))
    port = _port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(VAR_DIR=str(workdir / "var"), PORT=str(port), EMBEDDED_VARIANTS=",f3,m3", WORKER_THREADS="1",
               QUOTA_REQUESTS_PER_MINUTE="100000", QUOTA_CONCURRENT_TASKS="100000")  # fmt: skip
    python = sys.executable

    def manage(*argv: str) -> str:
        return subprocess.run([python, "manage.py", *argv], cwd=ROOT, env=env, check=True, capture_output=True,
                              text=True).stdout  # fmt: skip

    manage("migrate", "--noinput", "-v0")
    manage("createtenant", "bench", "--owner", "bench", "--password", "bench-password-1", "--accept-dpa")
    key = manage("createapikey", "--tenant", "bench").strip().splitlines()[-1]
    log = open(workdir / "stack.log", "w")  # noqa: SIM115 - lives as long as the stack
    stack = subprocess.Popen([python, "deploy/stack.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60)
    try:
        for _ in range(240):
            try:
                if api.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        with open(VOICE, "rb") as fh:
            voice = api.post("/api/v1/speakers", data={"name": "bench", "language": "en"},
                             files={"audio": ("v.flac", fh)}).json()["id"]  # fmt: skip
        while api.get(f"/api/v1/speakers/{voice}").json()["status"] == "PROCESSING":
            time.sleep(0.5)
        text = "This task is part of the backlog. It has two sentences."
        started = time.monotonic()
        for _ in range(args.backlog):
            queued = api.post(
                "/api/v1/tasks", json={"text": text, "speaker_id": voice, "language": "en", "priority": 0}
            )
            queued.raise_for_status()
        queued_in = time.monotonic() - started

        probes = []
        for _ in range(args.probes):
            high = api.post("/api/v1/tasks", json={"text": "Urgent.", "speaker_id": voice, "language": "en",
                                                    "priority": 1}).json()  # fmt: skip
            while (task := api.get(f"/api/v1/tasks/{high['id']}").json())["started_at"] is None:
                time.sleep(0.02)
            pending = api.get("/api/v1/tasks", params={"status": "PENDING", "page_size": 1}).json()["count"]
            probes.append({"wait_seconds": round(_seconds(task["created_at"], task["started_at"]), 3),
                           "backlog_pending": pending})  # fmt: skip
            time.sleep(0.5)
        normal = api.post("/api/v1/tasks", json={"text": text, "speaker_id": voice, "language": "en"}).json()
        pending_behind = api.get("/api/v1/tasks", params={"status": "PENDING", "page_size": 1}).json()["count"]
        waits = sorted(p["wait_seconds"] for p in probes)
        print(json.dumps({
            "backlog_priority0_tasks": args.backlog,
            "backlog_queued_seconds": round(queued_in, 1),
            "priority1_probes": len(probes),
            "priority1_wait_seconds": {
                "p50": round(statistics.median(waits), 3),
                "p95": round(waits[min(len(waits) - 1, int(0.95 * len(waits)))], 3),
                "max": waits[-1],
            },
            "backlog_pending_during_probes": [p["backlog_pending"] for p in probes],
            "priority0_task_submitted_after": {"id": normal["id"], "tasks_ahead_of_it": pending_behind - 1},
            "target_p50_seconds": 0.8,
        }, indent=2))  # fmt: skip
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
