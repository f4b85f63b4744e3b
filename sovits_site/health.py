"""Liveness and readiness, for load balancers and orchestrators (no authentication).

``/healthz`` answers as long as the web process runs: restart it when this fails.
``/readyz`` checks the database and Redis separately: route traffic away while
the database is down. With Redis down the API still works (tasks are accepted
and run once it is back), so readiness reports it without failing on it alone.
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


def readyz(request):
    checks = {"database": _check(_database), "redis": _check(lambda: _redis().ping())}
    if not checks["database"]["ok"]:
        status = "unavailable"
    elif not checks["redis"]["ok"]:
        status = "degraded"  # serving; queued work waits for Redis
    else:
        status = "ok"
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "unavailable" else 200)
