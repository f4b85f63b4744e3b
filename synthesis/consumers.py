"""WebSocket consumers: ``/ws/tasks/{id}/`` (one task) and ``/ws/tasks/`` (all of a tenant's).

They authenticate on connect (``sovits_site.websocket_auth`` puts the tenant in
the scope), send the current state at once, then forward group events, checking
on every event that it belongs to the connection's tenant.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from synthesis.events import SnapshotEvent, TaskEvent, TaskUpdateMessage, task_group, task_state, tenant_group
from synthesis.models import Task

# Not signed in, or not your task: the same code for a task that does not exist,
# so a closed socket reveals nothing. 4403 mirrors HTTP 403 in the range the
# WebSocket protocol leaves to applications (some servers refuse 1008 from apps).
POLICY_VIOLATION = 4403
SNAPSHOT_SIZE = 50


class _TenantConsumer(AsyncJsonWebsocketConsumer):
    tenant_id: str
    groups_joined: list[str]

    async def connect(self) -> None:
        tenant = self.scope.get("tenant")
        self.groups_joined = []
        if tenant is None:
            await self.refuse()
            return
        self.tenant_id = str(tenant.id)
        initial = await self.initial_state()
        if initial is None:
            await self.refuse()
            return
        for group in self.groups_to_join():
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        await self.send_json(initial)

    async def refuse(self) -> None:
        # Accept, then close with the code: a handshake refused outright reaches the
        # browser as a bare 1006 ("abnormal"), with no reason a client could act on.
        await self.accept()
        await self.close(code=POLICY_VIOLATION)

    async def disconnect(self, code) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        pass  # the channel is one-way; clients have nothing to say

    async def task_update(self, message: TaskUpdateMessage) -> None:
        if message["tenant_id"] != self.tenant_id:  # defence in depth: groups are per tenant already
            return
        event: TaskEvent = {"type": "task", "task": message["task"]}
        await self.send_json(event)

    async def initial_state(self) -> dict | None:
        raise NotImplementedError

    def groups_to_join(self) -> list[str]:
        raise NotImplementedError


class TaskConsumer(_TenantConsumer):
    async def initial_state(self) -> TaskEvent | None:
        task = await database_sync_to_async(self._load)()
        return None if task is None else {"type": "task", "task": task}

    def _load(self) -> dict | None:
        task = Task.objects.filter(id=self.scope["url_route"]["kwargs"]["task_id"], tenant_id=self.tenant_id).first()
        return None if task is None else task_state(task)

    def groups_to_join(self) -> list[str]:
        return [task_group(self.scope["url_route"]["kwargs"]["task_id"])]


class TenantTasksConsumer(_TenantConsumer):
    async def initial_state(self) -> SnapshotEvent:
        return {"type": "snapshot", "tasks": await database_sync_to_async(self._load)()}

    def _load(self) -> list[dict]:
        newest = Task.objects.filter(tenant_id=self.tenant_id).order_by("-created_at")[:SNAPSHOT_SIZE]
        return [task_state(task) for task in newest]

    def groups_to_join(self) -> list[str]:
        return [tenant_group(self.tenant_id)]
