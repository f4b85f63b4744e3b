"""Liveness and readiness, for load balancers and orchestrators (no authentication).

``/healthz`` answers as long as the web process runs: restart it when this fails.
``/readyz`` checks the database, Redis and each region's object store separately:
route traffic away while the database is down. With Redis down the API still
works (tasks are accepted and run once it is back), and with the object store
down everything but audio does, so readiness reports them without failing on
them alone.
"""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

_TIMEOUT_SECONDS = 2


def healthz(request):
    return JsonResponse({"status": "ok"})


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=_TIMEOUT_SECONDS, socket_timeout=_TIMEOUT_SECONDS
    )


def _check(probe) -> dict:
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _storage() -> None:
    """Each served region's store answers (an absent object is an answer; a refusal is not)."""
    from synthesis import storage

    for region in settings.REGIONS:
        storage.store(region).stat("readyz-probe")


def readyz(request):
    checks = {"database": _check(_database), "redis": _check(lambda: _redis().ping()), "storage": _check(_storage)}
    if not checks["database"]["ok"]:
        status = "unavailable"
    elif not (checks["redis"]["ok"] and checks["storage"]["ok"]):
        status = "degraded"  # serving; queued work waits for Redis, audio for the store
    else:
        status = "ok"
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "unavailable" else 200)
