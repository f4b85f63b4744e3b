"""Leases on claimed tasks: a worker heartbeats what it holds, from a thread of its own.

A worker claims a task by moving it to PROCESSING under its name with a fresh
heartbeat (``synthesis.services.runner``). While it holds the task, a daemon
thread of the worker process renews the heartbeat every ``TASK_LEASE_SECONDS / 6``,
whatever the engine is doing (engine calls release the GIL). When the process
dies the heartbeats stop, and once the last is older than ``TASK_LEASE_SECONDS``
any delivery of the task's message may take it over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import Q
from django.utils import timezone

from synthesis.models import Task, TaskStatus

logger = logging.getLogger(__name__)

# task id → (the attempt (claim number) this process holds, when it was claimed)
_held: dict[uuid.UUID, tuple[int, float]] = {}
_lock = threading.Lock()
_thread: threading.Thread | None = None


def worker_name() -> str:
    """host:pid of this process (read at each call: worker processes are forked)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def heartbeat_interval() -> float:
    return max(0.5, settings.TASK_LEASE_SECONDS / 6)


@contextmanager
def holding(tasks: list[Task]) -> Iterator[None]:
    """Heartbeat ``tasks`` (as claimed: their ``attempts`` is the claim) until the block ends."""
    now = time.monotonic()
    claims = {task.id: (task.attempts, now) for task in tasks}  # as claimed: the block may refresh the rows
    with _lock:
        _held.update(claims)
        _ensure_thread()
    try:
        yield
    finally:
        with _lock:
            for task_id, claim in claims.items():
                if _held.get(task_id) == claim:
                    del _held[task_id]


def beat() -> int:
    """Renew the heartbeat of every task this process holds; returns how many rows moved.

    Only within the task's time limit: a worker thread stuck past it (blocked on a
    write nobody reads, a hung driver call) stops renewing, so another worker takes
    the task over even though this process is alive.
    """
    limit = time.monotonic() - settings.SYNTHESIS_TIME_LIMIT_SECONDS
    with _lock:
        held = {task_id: attempt for task_id, (attempt, since) in _held.items() if since > limit}
    if not held:
        return 0
    mine = Q()
    for task_id, attempt in held.items():
        mine |= Q(id=task_id, attempts=attempt)
    return Task.objects.filter(mine, status=TaskStatus.PROCESSING).update(heartbeat_at=timezone.now())


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive() and _thread.ident is not None:
        return
    _thread = threading.Thread(target=_run, name="task-heartbeats", daemon=True)
    _thread.start()


def _run() -> None:
    stop = threading.Event()
    while not stop.wait(heartbeat_interval()):
        try:
            close_old_connections()
            if not beat():
                connections.close_all()  # idle: hold no database connection (this thread's only)
        except Exception:  # the database is away: keep trying, the lease tolerates a few misses
            logger.warning("could not renew task heartbeats", exc_info=True)
