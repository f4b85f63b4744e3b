"""The live channel through the full ASGI stack (auth middleware, router, consumers,
the real Redis channel layer), with the real worker publishing."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from sovits_site.asgi import application
from synthesis.consumers import POLICY_VIOLATION
from synthesis.events import publish_task
from synthesis.models import Task
from tests.conftest import wait_for_task


def session_headers(world, origin: str = "http://testserver") -> list[tuple[bytes, bytes]]:
    client = Client()
    assert client.login(username=world.owner.username, password=world.password)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    headers = [(b"host", b"testserver"), (b"cookie", cookie.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    return headers


async def _connect(path: str, headers):
    """Open a socket; returns (communicator, True, first message) or (communicator, False, close code)."""
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    if not connected:
        return communicator, False, code
    first = await communicator.receive_output(timeout=5)
    if first["type"] == "websocket.close":
        return communicator, False, first.get("code")
    return communicator, True, json.loads(first["text"])


async def _collect_until_done(communicator, timeout: float = 60) -> list[dict]:
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            messages.append(message)
            if message["type"] == "task" and message["task"]["status"] in ("DONE", "FAILED"):
                return messages


@pytest.fixture
def voice(tenant_a):
    return tenant_a.ready_voice()


def test_the_right_tenant_gets_state_on_connect_then_live_progress_to_done(tenant_a, voice, worker):
    worker.pause()  # hold the task until the socket is open
    task_id = tenant_a.create_task(voice, text="One sentence. Another one. And a third, to show progress.").json()["id"]

    headers = session_headers(tenant_a)

    async def scenario():
        communicator, connected, first = await _connect(f"/ws/tasks/{task_id}/", headers)
        assert connected
        worker.resume()
        rest = await _collect_until_done(communicator)
        await communicator.disconnect()
        return first, rest

    first, rest = async_to_sync(scenario)()
    assert first == {"type": "task", "task": first["task"]}
    assert first["task"]["id"] == task_id
    assert first["task"]["status"] == "PENDING"
    progress = [m["task"]["progress"] for m in rest]
    assert progress == sorted(progress)
    assert any(0 < p < 100 for p in progress), progress  # per-sentence steps, not just start and end
    assert rest[-1]["task"]["status"] == "DONE"
    assert rest[-1]["task"]["progress"] == 100
    assert "/api/v1/results/" in rest[-1]["task"]["result_url"]


def test_the_tenant_socket_sends_a_snapshot_then_every_task(tenant_a, voice, worker):
    older = tenant_a.create_task(voice).json()["id"]
    wait_for_task(older)

    headers = session_headers(tenant_a)

    async def scenario():
        communicator, connected, snapshot = await _connect("/ws/tasks/", headers)
        assert connected
        newer = await asyncio.to_thread(lambda: tenant_a.create_task(voice).json()["id"])
        messages = await _collect_until_done(communicator)
        await communicator.disconnect()
        return snapshot, newer, messages

    snapshot, newer, messages = async_to_sync(scenario)()
    assert snapshot["type"] == "snapshot"
    assert [t["id"] for t in snapshot["tasks"]] == [older]
    assert {m["task"]["id"] for m in messages} == {newer}


def test_another_tenants_task_socket_is_closed_with_a_policy_code(tenant_a, tenant_b, voice):
    task_id = tenant_a.create_task(voice).json()["id"]

    headers = session_headers(tenant_b)

    async def scenario():
        return await _connect(f"/ws/tasks/{task_id}/", headers)

    _, connected, code = async_to_sync(scenario)()
    assert not connected
    assert code == POLICY_VIOLATION


def test_another_tenants_events_never_reach_a_tenant_socket(tenant_a, tenant_b, voice):
    task = Task.objects.get(id=tenant_a.create_task(voice).json()["id"])

    headers = session_headers(tenant_b)

    async def scenario():
        communicator, connected, snapshot = await _connect("/ws/tasks/", headers)
        assert connected
        await asyncio.to_thread(publish_task, task)
        nothing = await communicator.receive_nothing(timeout=1)
        await communicator.disconnect()
        return snapshot, nothing

    snapshot, nothing = async_to_sync(scenario)()
    assert snapshot["tasks"] == []
    assert nothing


@pytest.mark.parametrize("origin", ["https://evil.example", ""])
def test_a_session_socket_from_another_origin_is_refused(tenant_a, voice, origin):
    task_id = tenant_a.create_task(voice).json()["id"]

    headers = session_headers(tenant_a, origin=origin)

    async def scenario():
        return await _connect(f"/ws/tasks/{task_id}/", headers)

    _, connected, code = async_to_sync(scenario)()
    assert not connected
    assert code == POLICY_VIOLATION


def test_an_api_client_connects_with_a_short_lived_ticket(tenant_a, voice):
    task_id = tenant_a.create_task(voice).json()["id"]
    ticket = tenant_a.client.post("/api/v1/auth/ws-ticket").json()["ticket"]

    async def scenario(path):
        communicator, connected, first = await _connect(path, [(b"host", b"testserver")])
        await communicator.disconnect()
        return connected, first

    connected, message = async_to_sync(scenario)(f"/ws/tasks/{task_id}/?ticket={ticket}")
    assert connected
    assert message["task"]["id"] == task_id
    connected, code = async_to_sync(scenario)(f"/ws/tasks/{task_id}/?ticket={ticket[:-3]}xyz")
    assert not connected
    assert code == POLICY_VIOLATION


def test_a_ticket_opens_one_socket_only(transactional_db, tenant_a, voice):
    task_id = tenant_a.create_task(voice).json()["id"]
    ticket = tenant_a.client.post("/api/v1/auth/ws-ticket").json()["ticket"]

    async def scenario(path):
        communicator, connected, first = await _connect(path, [(b"host", b"testserver")])
        await communicator.disconnect()
        return connected, first

    path = f"/ws/tasks/{task_id}/?ticket={ticket}"
    assert async_to_sync(scenario)(path)[0]
    connected, code = async_to_sync(scenario)(path)  # replayed, e.g. from a proxy's log
    assert not connected
    assert code == POLICY_VIOLATION
    another = tenant_a.client.post("/api/v1/auth/ws-ticket").json()["ticket"]
    assert another != ticket
    assert async_to_sync(scenario)(f"/ws/tasks/{task_id}/?ticket={another}")[0]


def test_polling_clients_see_progress_on_the_row(tenant_a, voice, worker):
    task_id = tenant_a.create_task(voice, text="First. Second. Third. Fourth. Fifth. Sixth.").json()["id"]
    seen = set()
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = tenant_a.client.get(f"/api/v1/tasks/{task_id}").json()
        seen.add(body["progress"])
        if body["status"] == "DONE":
            break
        time.sleep(0.05)
    assert 100 in seen
    assert seen <= set(range(101))


def test_a_create_hands_its_event_to_the_publisher_thread(tenant_a, voice, monkeypatch,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    """The request does not wait on the channel layer: the event of a new task is sent by the
    process's publisher thread, to the tenant's group only (nobody can follow its id yet)."""
    import threading

    from synthesis import events

    sent = []
    real_send = events._send

    async def spy(message, *, to_task_group):
        sent.append((threading.current_thread().name, message["task"]["id"], to_task_group))
        await real_send(message, to_task_group=to_task_group)

    assert events.flush()  # nothing of earlier tests still on its way
    monkeypatch.setattr(events, "_send", spy)
    with django_capture_on_commit_callbacks(execute=True):
        task_id = tenant_a.create_task(voice).json()["id"]
    assert events.flush()
    assert sent == [("live-events", task_id, False)]


def test_a_socket_quiet_for_longer_than_the_layers_blocking_read_still_hears(db):
    """channels-redis waits on Redis in 5 s blocking reads: a channel with nothing for 6 s must
    wait on (redis-py 8's default read timeout of 5 s once closed such sockets), then hear."""
    from channels.layers import get_channel_layer

    async def wait_quietly():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        with pytest.raises(asyncio.TimeoutError):  # ours, after 6 s of silence: not redis' TimeoutError
            await asyncio.wait_for(layer.receive(channel), timeout=6)
        await layer.send(channel, {"type": "task.update", "status": "DONE"})
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert async_to_sync(wait_quietly)()["status"] == "DONE"
