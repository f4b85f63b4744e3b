"""Work survives lost messages and dead workers: leases, fenced claims, the reconciler.

Real Redis broker, real database, the real worker (in this process) and engine.
What a killed process or a restarted Redis does to the whole stack is in
tests/test_stack_recovery.py; here each failure is staged on the rows and the
broker directly, so every path is exercised in a few seconds.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import dramatiq
import pytest
from django.utils import timezone
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from synthesis import dispatch, leases, worker_lifecycle
from synthesis.models import Speaker, SpeakerStatus, Task, TaskStatus, WebhookDelivery
from synthesis.services import runner
from synthesis.services.reconciler import reconcile
from synthesis.services.subject_requests import request_create
from tenants.models import SubjectRequest
from tests.conftest import wait_for_task, wait_for_voice
from tests.webhook_receiver import Receiver

REGION = "eu"  # the test tenants' region (DEFAULT_REGION)


@pytest.fixture
def short_lease(settings):
    settings.TASK_LEASE_SECONDS = 3
    settings.RECONCILE_GRACE_SECONDS = 1
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def broker(transactional_db):
    broker = dramatiq.get_broker()
    import synthesis.actors  # noqa: F401 - declares the queues

    broker.flush_all()
    yield broker
    broker.flush_all()


def _age(model, pk, **seconds_ago) -> None:
    """Move a row's timestamps into the past, as if it had waited that long."""
    now = timezone.now()
    model.objects.filter(pk=pk).update(**{name: now - timedelta(seconds=s) for name, s in seconds_ago.items()})


def _delayed(broker, queue: str) -> list[dramatiq.Message]:
    name = dq_name(f"{REGION}.{queue}")
    return [dramatiq.Message.decode(raw) for raw in broker.client.hvals(f"{broker.namespace}:{name}.msgs")]


def test_a_task_whose_message_was_lost_is_sent_again_once_and_finishes(tenant_a, short_lease, broker):
    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice).json()["id"]
    assert ("task.embedded", task_id) in dispatch.waiting(REGION)
    broker.flush_all()  # Redis restarted without persistence: the bell is gone, the row is not
    assert ("task.embedded", task_id) not in dispatch.waiting(REGION)

    assert reconcile(region=REGION) == {}  # within the grace period nothing is sent
    _age(Task, task_id, created_at=5)
    assert reconcile(region=REGION) == {"tasks": 1}
    assert ("task.embedded", task_id) in dispatch.waiting(REGION)
    assert reconcile(region=REGION) == {}  # the broker holds it now: no duplicate piles up

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        task = wait_for_task(task_id)
    finally:
        worker.stop()
    assert (task.status, task.attempts, task.heartbeat_at) == (TaskStatus.DONE, 1, None)
    assert task.worker == leases.worker_name()  # who ran it, for operators


def test_a_message_held_by_a_dead_worker_counts_as_lost(tenant_a, short_lease, broker):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    other = RedisBroker(client=broker.client, namespace=broker.namespace)  # another worker process
    queue = f"{REGION}.embedded.synthesis"
    [fetched] = other.do_fetch(queue, 1)  # it takes the message...
    assert dramatiq.Message.decode(fetched).args == (task_id,)
    assert ("task.embedded", task_id) in dispatch.waiting(REGION)  # ...and is alive: the message is in hand
    broker.client.zadd(f"{broker.namespace}:__heartbeats__", {other.broker_id: time.time() * 1000 - 60_000})

    assert ("task.embedded", task_id) not in dispatch.waiting(REGION)  # it died: nobody will deliver it
    _age(Task, task_id, created_at=5)
    assert reconcile(region=REGION) == {"tasks": 1}


def test_a_task_whose_worker_died_is_taken_over_by_the_next_delivery(tenant_a, short_lease, broker):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    Task.objects.filter(id=task_id).update(status=TaskStatus.PROCESSING, attempts=1, worker="gone:1", progress=40)
    _age(Task, task_id, heartbeat_at=10, created_at=60)

    runner.task_run(task_id=task_id)

    task = Task.objects.get(id=task_id)
    assert (task.status, task.attempts, task.progress) == (TaskStatus.DONE, 2, 100)
    assert task.result_key


def test_a_second_delivery_while_a_live_worker_holds_the_task_is_deferred_not_dropped(
    tenant_a, short_lease, broker
):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    broker.flush_all()
    Task.objects.filter(id=task_id).update(
        status=TaskStatus.PROCESSING, attempts=1, worker="alive:1", heartbeat_at=timezone.now()
    )

    runner.task_run(task_id=task_id)  # not claimable now...

    task = Task.objects.get(id=task_id)
    assert (task.status, task.attempts, task.worker) == (TaskStatus.PROCESSING, 1, "alive:1")
    deferred = _delayed(broker, "embedded.synthesis")  # ...but asked again for when the lease ends
    assert [(m.actor_name, m.args) for m in deferred] == [(f"task.embedded.{REGION}", (task_id,))]
    assert 0 < deferred[0].options["eta"] / 1000 - time.time() <= 3 + 1


def test_a_worker_that_lost_its_claim_can_neither_report_nor_finish(tenant_a, short_lease, broker):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    [first] = runner._claim([task_id])
    _age(Task, task_id, heartbeat_at=10)  # the first worker stalled past its lease
    [second] = runner._claim([task_id])
    assert (first.attempts, second.attempts) == (1, 2)

    runner._ProgressWriter([first])(0, 0.5)
    assert not runner._finish(first, status=TaskStatus.DONE, progress=100)
    task = Task.objects.get(id=task_id)
    assert (task.status, task.progress, task.attempts) == (TaskStatus.PROCESSING, 0, 2)
    assert runner._finish(second, status=TaskStatus.DONE, progress=100)


def test_a_held_task_keeps_heartbeating_while_the_engine_call_blocks(tenant_a, short_lease, broker):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    [task] = runner._claim([task_id])
    claimed_at = Task.objects.get(id=task_id).heartbeat_at
    with leases.holding([task]):
        # This thread is busy (as in a long engine call, which releases the GIL); the heartbeat one is not.
        deadline = time.monotonic() + 10 * leases.heartbeat_interval()
        while (during := Task.objects.get(id=task_id).heartbeat_at) == claimed_at and time.monotonic() < deadline:
            time.sleep(leases.heartbeat_interval())
    assert during > claimed_at
    assert leases.beat() == 0  # released: nothing held any more


def test_a_task_stuck_past_its_time_limit_is_no_longer_heartbeated(tenant_a, short_lease, broker, settings):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    [task] = runner._claim([task_id])
    with leases.holding([task]):
        assert leases.beat() == 1
        settings.SYNTHESIS_TIME_LIMIT_SECONDS = 0  # the worker thread is stuck (alive, but past its limit)
        assert leases.beat() == 0  # so the lease runs out and another worker takes the task over


def test_cancelling_a_task_whose_worker_is_gone_takes_effect_at_once(tenant_a, short_lease, broker):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    Task.objects.filter(id=task_id).update(status=TaskStatus.PROCESSING, attempts=1, worker="gone:1")
    _age(Task, task_id, heartbeat_at=10)

    response = tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED"
    assert Task.objects.get(id=task_id).status == TaskStatus.CANCELLED


def test_cancelling_a_task_on_a_live_worker_asks_it_to_stop(tenant_a, short_lease, broker):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    Task.objects.filter(id=task_id).update(
        status=TaskStatus.PROCESSING, attempts=1, worker="alive:1", heartbeat_at=timezone.now()
    )
    assert tenant_a.client.post(f"/api/v1/tasks/{task_id}/cancel").json()["status"] == "PROCESSING"
    _age(Task, task_id, heartbeat_at=10)  # ...and then that worker died before its next sentence
    assert reconcile(region=REGION) == {"tasks_settled": 1}
    assert Task.objects.get(id=task_id).status == TaskStatus.CANCELLED


def test_a_task_whose_workers_keep_dying_fails_as_worker_lost(tenant_a, short_lease, broker, settings):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    Task.objects.filter(id=task_id).update(
        status=TaskStatus.PROCESSING, attempts=settings.TASK_MAX_ATTEMPTS, worker="gone:1"
    )
    _age(Task, task_id, heartbeat_at=10)

    assert reconcile(region=REGION) == {"tasks_settled": 1}

    task = Task.objects.get(id=task_id)
    assert task.status == TaskStatus.FAILED
    assert task.error["code"] == "WORKER_LOST"
    assert task.error["details"] == {"attempts": settings.TASK_MAX_ATTEMPTS}
    usage = tenant_a.client.get("/api/v1/usage").json()
    assert usage["quotas"]["monthly_characters"]["used"] == 0  # a failed task gives its characters back


def test_a_stopping_worker_hands_its_task_back_to_the_queue(tenant_a, short_lease, broker, monkeypatch):
    task_id = tenant_a.create_task(tenant_a.ready_voice()).json()["id"]
    broker.flush_all()
    monkeypatch.setattr(worker_lifecycle, "_stop_by", time.monotonic() - 1)  # SIGTERM came, grace is over

    runner.task_run(task_id=task_id)

    task = Task.objects.get(id=task_id)
    assert (task.status, task.attempts, task.worker, task.progress) == (TaskStatus.PENDING, 0, "", 0)
    assert ("task.embedded", task_id) in dispatch.waiting(REGION)  # another worker takes it at once
    assert uuid.UUID(task_id) not in leases._held  # and this worker no longer heartbeats it


def test_a_stopping_worker_hands_a_batch_back_as_one_job(tenant_a, short_lease, broker, monkeypatch):
    voice = tenant_a.ready_voice()
    requests = [{"text": f"Item {n}.", "speaker_id": voice} for n in range(3)]
    batch_id = tenant_a.client.post("/api/v1/batches", {"requests": requests}, format="json").json()["id"]
    broker.flush_all()
    monkeypatch.setattr(worker_lifecycle, "_stop_by", time.monotonic() - 1)

    runner.batch_run(batch_id=batch_id, engine="embedded")

    assert set(Task.objects.filter(batch_id=batch_id).values_list("status", "attempts")) == {(TaskStatus.PENDING, 0)}
    queued = broker.client.hvals(f"{broker.namespace}:{REGION}.embedded.synthesis.msgs")
    assert [dramatiq.Message.decode(raw).args for raw in queued] == [(batch_id,)]


def test_a_stranded_voice_profile_recovers(tenant_a, short_lease, broker):
    response = tenant_a.upload_voice()
    assert response.status_code == 201, response.content
    speaker_id = response.json()["id"]
    broker.flush_all()
    _age(Speaker, speaker_id, created_at=5)

    assert reconcile(region=REGION) == {"voices": 1}
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        assert wait_for_voice(speaker_id).status == SpeakerStatus.READY
    finally:
        worker.stop()


def test_a_due_webhook_lost_by_the_broker_is_delivered_once(tenant_a, short_lease, broker):
    receiver = Receiver()
    task_id = tenant_a.create_task(tenant_a.ready_voice(), callback_url=receiver.url).json()["id"]
    runner.task_run(task_id=task_id)
    assert Task.objects.get(id=task_id).webhook_due_at is not None  # due, and its message...
    broker.flush_all()  # ...lost
    _age(Task, task_id, webhook_due_at=5)

    assert reconcile(region=REGION) == {"webhooks": 1}
    dispatch.send("webhook", REGION, task_id)  # and a duplicate message on top
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        receiver.wait_for(1)
        time.sleep(1)
    finally:
        worker.stop()
        receiver.server.shutdown()

    assert len(receiver.calls) == 1
    assert receiver.calls[0]["headers"]["webhook-id"] == f"msg_{task_id.replace('-', '')}"
    assert list(WebhookDelivery.objects.filter(task_id=task_id).values_list("attempt", "succeeded")) == [(1, True)]
    assert Task.objects.get(id=task_id).webhook_due_at is None
    assert reconcile(region=REGION) == {}


def test_a_completed_batchs_webhook_lost_by_the_broker_is_delivered_once(tenant_a, short_lease, broker):
    from synthesis.models import Batch

    receiver = Receiver()
    body = {"requests": [{"text": "Only item.", "speaker_id": tenant_a.ready_voice()}], "callback_url": receiver.url}
    batch_id = tenant_a.client.post("/api/v1/batches", body, format="json").json()["id"]
    runner.batch_run(batch_id=batch_id, engine="embedded")
    task_id = str(Task.objects.get(batch_id=batch_id).id)
    assert Batch.objects.get(id=batch_id).webhook_due_at is not None  # the batch's event is due, and its message...
    broker.flush_all()  # ...lost, with the item's
    _age(Batch, batch_id, webhook_due_at=5)
    _age(Task, task_id, webhook_due_at=5)

    assert reconcile(region=REGION) == {"webhooks": 1, "batch_webhooks": 1}
    dispatch.send("batch_webhook", REGION, batch_id)  # and a duplicate message on top
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        receiver.wait_for(2)
        time.sleep(1)
    finally:
        worker.stop()
        receiver.server.shutdown()

    assert sorted(json.loads(call["body"])["type"] for call in receiver.calls) == ["batch.completed", "task.completed"]
    assert Batch.objects.get(id=batch_id).webhook_due_at is None
    assert reconcile(region=REGION) == {}


def test_a_received_subject_request_whose_message_was_lost_is_worked(tenant_a, short_lease, broker):
    voice = tenant_a.ready_voice()
    request = request_create(tenant=tenant_a.tenant, kind="access", speaker_ids=[uuid.UUID(voice)], subject="Ann",
                             user=tenant_a.owner)  # fmt: skip
    broker.flush_all()
    _age(SubjectRequest, request.id, created_at=5)

    assert reconcile(region=REGION) == {"subject_requests": 1}
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while SubjectRequest.objects.get(id=request.id).status != SubjectRequest.Status.DONE:
            assert time.monotonic() < deadline, SubjectRequest.objects.get(id=request.id).status
            time.sleep(0.1)
    finally:
        worker.stop()
