"""Chaos benchmark: no accepted task is lost or finished twice while processes and Redis die.

Starts the whole stack as `make run` does (supervisord, embedded Redis, SQLite)
in a temporary directory, with a loopback webhook receiver. Queues TASKS tasks
(each with a callback URL), then, while they run, kills the synthesis worker's
Dramatiq process with SIGKILL every KILL_EVERY seconds (at least KILLS times)
and twice flushes Redis and kills it too (a restart without persistence), while
/healthz is polled five times a second. Prints JSON:

- accepted, done, failed, lost (never finished before the deadline);
- finished_twice: tasks whose completion reached the webhook receiver under more
  than one webhook-id, or that left more than one result file;
- the longest recovery: after a worker kill, until every task it was running is
  DONE; after a Redis restart, until every task that was waiting is running again;
- whether /healthz ever failed.

The target: 0 lost, 0 finished twice, the web never down.
Run: ``.venv/bin/python bench/chaos.py`` (about five minutes with the default lease).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.sandbox import live_stack  # noqa: E402 - needs ROOT on the path
from tests.webhook_receiver import Receiver  # noqa: E402

VOICE = ROOT / "tests" / "fixtures" / "voices" / "118-121721-0000.flac"
FINISHED = ("DONE", "FAILED", "CANCELLED")


class HealthWatch(threading.Thread):
    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.checks, self.failures = base, 0, 0
        self.stopped = threading.Event()

    def run(self):
        with httpx.Client(timeout=2) as client:
            while not self.stopped.wait(0.2):
                self.checks += 1
                try:
                    ok = client.get(f"{self.base}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.failures += not ok


class Tracker(threading.Thread):
    """Polls every task twice a second; remembers when each started and finished."""

    def __init__(self, api: httpx.Client, task_ids: list[str]):
        super().__init__(daemon=True)
        self.api, self.task_ids = api, set(task_ids)
        self.state: dict[str, dict] = {}
        self.finished_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.5):
            try:
                rows = []
                for page in (1, 2, 3):
                    body = self.api.get("/api/v1/tasks", params={"page": page, "page_size": 200}).json()
                    rows += body["results"]
                    if not body.get("next"):
                        break
            except (httpx.HTTPError, KeyError, ValueError):
                continue
            now = time.monotonic()
            with self.lock:
                for row in rows:
                    if row["id"] in self.task_ids:
                        self.state[row["id"]] = row
                        if row["status"] in FINISHED:
                            self.finished_at.setdefault(row["id"], now)

    def with_status(self, *statuses: str) -> set[str]:
        with self.lock:
            return {task_id for task_id, row in self.state.items() if row["status"] in statuses}

    def all_finished(self) -> bool:
        with self.lock:
            return len(self.finished_at) == len(self.task_ids)


def _wait_until(predicate, timeout: float) -> float | None:
    """Seconds until ``predicate()`` held, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return round(time.monotonic() - started, 1)
        time.sleep(0.25)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the synthesis worker, at least")
    # Past supervisord's 10 s start-up window, so each kill is a crash to recover from, not a crash loop.
    parser.add_argument("--kill-every", type=float, default=12.0, help="seconds between kills")
    parser.add_argument("--redis-restarts", type=int, default=2)
    parser.add_argument("--lease", type=int, default=30, help="TASK_LEASE_SECONDS (the default setting)")
    parser.add_argument("--deadline", type=float, default=900, help="seconds after which unfinished tasks are lost")
    args = parser.parse_args()

    env = {
        "EMBEDDED_VARIANTS": "f3,m3",
        "TASK_LEASE_SECONDS": str(args.lease),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "QUOTA_REQUESTS_PER_MINUTE": "100000",
        "QUOTA_CONCURRENT_TASKS": "100000",
    }
    receiver = Receiver()
    with live_stack(Path(tempfile.mkdtemp(prefix="sovits-chaos-")), **env) as live:
        live.manage("createtenant", "chaos", "--owner", "chaos", "--password", "chaos-password-1", "--accept-dpa")
        key = live.manage("createapikey", "--tenant", "chaos").strip().splitlines()[-1]
        api = httpx.Client(base_url=live.base, headers={"X-API-Key": key}, timeout=60)
        with open(VOICE, "rb") as fh:
            voice = api.post("/api/v1/speakers", data={"name": "chaos", "language": "en"},
                             files={"audio": ("v.flac", fh)}).json()["id"]  # fmt: skip
        while api.get(f"/api/v1/speakers/{voice}").json()["status"] == "PROCESSING":
            time.sleep(0.5)

        health = HealthWatch(live.base)
        health.start()
        started = time.monotonic()
        task_ids = []
        for n in range(args.tasks):
            response = api.post("/api/v1/tasks", json={
                "text": f"Chaos task number {n}. The workers keep dying, and still it must be spoken once.",
                "speaker_id": voice, "language": "en", "callback_url": receiver.url,
            })  # fmt: skip
            response.raise_for_status()
            task_ids.append(response.json()["id"])
        tracker = Tracker(api, task_ids)
        tracker.start()

        kills, redis_restarts, worker_recoveries, redis_recoveries = 0, 0, [], []
        restart_at = {round((i + 1) * args.kills / (args.redis_restarts + 1)) for i in range(args.redis_restarts)}
        pending_checks: list[threading.Thread] = []

        def measure(into: list, predicate, timeout: float) -> None:
            thread = threading.Thread(target=lambda: into.append(_wait_until(predicate, timeout)), daemon=True)
            thread.start()
            pending_checks.append(thread)

        while kills < args.kills and time.monotonic() - started < args.deadline:
            time.sleep(args.kill_every)
            try:
                workers = live.worker_processes("worker")
            except (OSError, ValueError):
                continue  # the worker is being restarted
            running = tracker.with_status("PROCESSING")
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            kills += 1
            if running:
                measure(worker_recoveries, lambda r=running: r <= tracker.with_status("DONE"), args.deadline)
            if kills in restart_at:
                waiting = tracker.with_status("PENDING")
                client = redis.Redis(unix_socket_path=str(live.var / "redis.sock"), socket_timeout=5)
                client.flushall()
                os.kill(int(live.supervisorctl("pid", "redis").strip()), signal.SIGKILL)  # supervisord restarts it
                redis_restarts += 1
                if waiting:
                    measure(redis_recoveries, lambda w=waiting: not (w & tracker.with_status("PENDING")), args.deadline)

        while not tracker.all_finished() and time.monotonic() - started < args.deadline:
            time.sleep(1)
        for thread in pending_checks:
            thread.join(timeout=max(1.0, args.deadline - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        time.sleep(3)  # the last webhooks
        tracker.stopped.set()
        health.stopped.set()
        tracker.join()
        health.join()

        with tracker.lock:
            states = {task_id: tracker.state.get(task_id, {}).get("status") for task_id in task_ids}
        events = defaultdict(set)
        for call in receiver.calls:
            payload = json.loads(call["body"])
            events[payload["data"]["task_id"]].add(call["headers"]["webhook-id"])
        tenant_results = list(live.var.glob("storage/*/*/results/*.bin"))
        result_files = len(tenant_results)
        done = sum(status == "DONE" for status in states.values())
        twice = {task_id for task_id, ids in events.items() if len(ids) > 1}
        recoveries = [r for r in worker_recoveries + redis_recoveries if r is not None]
        print(json.dumps({
            "accepted": len(task_ids),
            "done": done,
            "failed": sum(status == "FAILED" for status in states.values()),
            "lost": sum(status not in FINISHED for status in states.values()),
            "finished_twice": len(twice),
            "result_files": result_files,
            "extra_result_files": max(0, result_files - done),
            "webhook_deliveries": len(receiver.calls),
            "tasks_with_a_webhook": len(events),
            "worker_kills": kills,
            "redis_restarts": redis_restarts,
            "longest_recovery_seconds": max(recoveries) if recoveries else None,
            "worker_kill_recovery_seconds": {"max": max(filter(None, worker_recoveries), default=None),
                                             "unrecovered": worker_recoveries.count(None)},
            "redis_restart_recovery_seconds": {"max": max(filter(None, redis_recoveries), default=None),
                                               "unrecovered": redis_recoveries.count(None)},
            "healthz": {"checks": health.checks, "failures": health.failures},
            "seconds": round(elapsed, 1),
            "task_lease_seconds": args.lease,
            "target": {"lost": 0, "finished_twice": 0, "healthz_failures": 0},
        }, indent=2))  # fmt: skip
    receiver.server.shutdown()


if __name__ == "__main__":
    main()
