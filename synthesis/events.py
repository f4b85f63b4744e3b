"""Live task events over the channel layer (Channels + Redis).

Group messages are at-most-once and dropped when a channel is full, so they are
hints: the database row (and the state sent on connect) is the truth. Every
event goes through :func:`publish_task`, to the task's group and its tenant's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from typing import Any, Literal, TypedDict

from channels.layers import get_channel_layer

from synthesis.models import Task

logger = logging.getLogger(__name__)


class TaskEvent(TypedDict):
    """Sent to clients: one task's full state (the REST representation)."""

    type: Literal["task"]
    task: dict[str, Any]


class SnapshotEvent(TypedDict):
    """Sent to a ``/ws/tasks/`` client on connect: the tenant's newest tasks."""

    type: Literal["snapshot"]
    tasks: list[dict[str, Any]]


class TaskUpdateMessage(TypedDict):
    """Group message between processes; ``type`` names the consumer's handler."""

    type: Literal["task.update"]
    tenant_id: str
    task: dict[str, Any]


def task_group(task_id) -> str:
    return f"task.{task_id}"


def tenant_group(tenant_id) -> str:
    return f"tenant.{tenant_id}"


def task_state(task: Task) -> dict[str, Any]:
    from synthesis.api.tasks import TaskOutputSerializer

    return dict(TaskOutputSerializer(task).data)


def publish_task(task: Task, *, new: bool = False) -> None:
    """Tell live clients about the task's current state, without waiting: the message is
    handed to this process's publisher thread. Never raises: a lost hint is fine. A ``new``
    task goes to its tenant's group only (no one can follow its id yet)."""
    message: TaskUpdateMessage = {"type": "task.update", "tenant_id": str(task.tenant_id), "task": task_state(task)}
    try:
        _publisher().put_nowait((message, new))
    except queue.Full:
        logger.warning("live events are backing up; task %s's update was dropped", task.id)


_QUEUE_SIZE = 10_000
_lock = threading.Lock()
_queue: queue.Queue | None = None
_owner_pid: int | None = None


def _publisher() -> queue.Queue:
    """This process's queue of messages for the channel layer, drained by one daemon thread
    that keeps an event loop (and so the layer's Redis connections) for the process's life.
    ``async_to_sync`` per message would block the request on two round trips and set up
    a loop and a connection each time."""
    global _queue, _owner_pid
    with _lock:
        if _queue is None or _owner_pid != os.getpid():  # first use, or a forked child
            _queue, _owner_pid = queue.Queue(maxsize=_QUEUE_SIZE), os.getpid()
            threading.Thread(target=_drain, args=(_queue,), name="live-events", daemon=True).start()
        return _queue


def _drain(messages: queue.Queue) -> None:
    loop = asyncio.new_event_loop()
    while True:
        message, new = messages.get()
        try:
            loop.run_until_complete(_send(message, to_task_group=not new))
        except Exception:
            logger.warning("could not publish task %s to the channel layer", message["task"]["id"], exc_info=True)
        finally:
            messages.task_done()


async def _send(message: TaskUpdateMessage, *, to_task_group: bool) -> None:
    layer = get_channel_layer()
    if to_task_group:
        await layer.group_send(task_group(message["task"]["id"]), message)
    await layer.group_send(tenant_group(message["tenant_id"]), message)


def flush(timeout: float = 5.0) -> bool:
    """Wait until this process's pending events are sent (for tests)."""
    messages = _queue
    if messages is None or _owner_pid != os.getpid():
        return True
    deadline = time.monotonic() + timeout
    while messages.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
