"""A Dramatiq middleware that warms a worker's engine when it starts (synthesis.warmup) and
tells the running jobs when their worker is stopping.

Dramatiq stops a worker process on SIGTERM by letting each thread finish its
current message (up to ``--worker-shutdown-timeout``). Jobs that may outlast
that (synthesis) ask :func:`handing_back` between steps: once the process has
been stopping for ``WORKER_SHUTDOWN_GRACE_SECONDS`` it answers True, and the
job gives its work back to the queue instead of being cut off mid-way.

Django-free at import: the broker loads its middleware while apps are loading.
"""

from __future__ import annotations

import time

from dramatiq.middleware import Middleware

_stop_by: float | None = None  # monotonic deadline once shutdown began


def handing_back() -> bool:
    return _stop_by is not None and time.monotonic() >= _stop_by


class WorkerLifecycle(Middleware):
    def after_worker_boot(self, broker, worker) -> None:
        global _stop_by
        _stop_by = None  # a worker started again in the same process (tests) is not stopping
        from synthesis import warmup

        warmup.start(consumed=worker.consumer_whitelist or None)

    def before_worker_shutdown(self, broker, worker) -> None:
        from django.conf import settings

        global _stop_by
        _stop_by = time.monotonic() + settings.WORKER_SHUTDOWN_GRACE_SECONDS
