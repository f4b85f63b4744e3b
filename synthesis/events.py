"""Live task events over the channel layer (Channels + Redis).

Group messages are at-most-once and dropped when a channel is full, so they are
hints: the database row (and the state sent on connect) is the truth. Every
event goes through :func:`publish_task`, to the task's group and its tenant's.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
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


def publish_task(task: Task) -> None:
    """Tell live clients about the task's current state. Never raises: a lost hint is fine."""
    message: TaskUpdateMessage = {"type": "task.update", "tenant_id": str(task.tenant_id), "task": task_state(task)}
    try:
        layer = get_channel_layer()
        async_to_sync(layer.group_send)(task_group(task.id), message)
        async_to_sync(layer.group_send)(tenant_group(task.tenant_id), message)
    except Exception:
        logger.warning("could not publish task %s to the channel layer", task.id, exc_info=True)
