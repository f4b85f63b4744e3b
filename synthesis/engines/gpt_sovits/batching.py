"""Batching across callers: work handed in by many threads runs in batched calls, one at a time.

Each worker thread holds its own task (claim, heartbeat, progress) and hands its
request here. While the engine is busy, requests queue; when it frees, the next
call takes every queued request that can share it (same key: same model pair and
sampling settings), up to ``max_batch``. An idle engine waits ``window`` seconds
for company before starting. Every request gets its own result or its own error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Job:
    key: Hashable  # jobs with equal keys may share one call
    item: Any
    result: Any = None
    error: BaseException | None = None
    done: bool = field(default=False, repr=False)


class Batcher:
    def __init__(self, run: Callable[[list[Job]], None], *, max_batch: int, window: float):
        """``run(jobs)`` must set ``result`` or ``error`` on each job; what it raises becomes
        the error of the jobs it left without either."""
        self._run = run
        self.max_batch = max(1, max_batch)
        self.window = max(0.0, window)
        self._pending: list[Job] = []
        self._busy = False
        self._cond = threading.Condition()

    def submit(self, jobs: list[Job]) -> None:
        """Block until every one of ``jobs`` is done (it may run others' jobs meanwhile)."""
        with self._cond:
            self._pending.extend(jobs)
            self._cond.notify_all()
            while not all(job.done for job in jobs):
                if self._busy or not self._pending:
                    self._cond.wait()
                    continue
                self._busy = True
                batch = self._gather()
                self._cond.release()
                try:
                    self._run(batch)
                except BaseException as exc:  # handed to the jobs' owners
                    for job in batch:
                        if job.result is None and job.error is None:
                            job.error = exc
                finally:
                    self._cond.acquire()
                    for job in batch:
                        job.done = True
                    self._busy = False
                    self._cond.notify_all()

    def _gather(self) -> list[Job]:
        """The oldest job and those that may share its call; waits up to ``window`` for more."""
        deadline = time.monotonic() + self.window
        while (remaining := deadline - time.monotonic()) > 0 and self._matching() < self.max_batch:
            self._cond.wait(remaining)
        key = self._pending[0].key
        batch = [job for job in self._pending if job.key == key][: self.max_batch]
        for job in batch:
            self._pending.remove(job)
        return batch

    def _matching(self) -> int:
        key = self._pending[0].key
        return sum(job.key == key for job in self._pending)
