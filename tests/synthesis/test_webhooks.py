"""Webhooks over real HTTP to a loopback receiver, verified with the standardwebhooks library."""

from __future__ import annotations

import json
import socket
import time

import pytest
from standardwebhooks import Webhook

from synthesis import safe_http, webhooks
from synthesis.models import Task, WebhookDelivery
from tests.conftest import wait_for_task
from tests.webhook_receiver import Receiver


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.WEBHOOK_RETRY_MAX_SECONDS = 1.0
    settings.WEBHOOK_MAX_ATTEMPTS = 4


def test_a_signed_webhook_arrives_and_is_retried_after_a_failure(tenant_a, worker, loopback_allowed):
    receiver = Receiver(statuses=[500])
    voice = tenant_a.ready_voice()
    task_id = tenant_a.create_task(voice, callback_url=receiver.url).json()["id"]
    assert wait_for_task(task_id).status == "DONE"
    receiver.wait_for(2)
    receiver.server.shutdown()

    secret = tenant_a.client.get("/api/v1/webhooks/secret")
    assert secret.status_code == 403  # API keys do not manage secrets; owners do
    owner_secret = webhooks.tenant_secret(tenant_a.tenant)
    first, second = receiver.calls
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]  # same event, retried
    for call in receiver.calls:
        payload = Webhook(owner_secret).verify(call["body"], call["headers"])  # raises if the signature is wrong
        assert payload["type"] == "task.completed"
        assert payload["data"]["task_id"] == task_id
        assert payload["data"]["status"] == "DONE"
        assert "/api/v1/results/" in payload["data"]["result_url"]
    with pytest.raises(Exception, match="signature"):
        Webhook(webhooks.new_secret()).verify(first["body"], first["headers"])

    deliveries = tenant_a.client.get(f"/api/v1/tasks/{task_id}/webhooks").json()["results"]
    assert [(d["attempt"], d["status_code"], d["succeeded"]) for d in deliveries] == [(1, 500, False), (2, 200, True)]
    assert deliveries[0]["next_attempt_at"]


def test_a_failed_task_sends_task_failed(tenant_a, worker, loopback_allowed, monkeypatch):
    from synthesis.engines.embedded.engine import EmbeddedEngine

    def crash(self, requests, **callbacks):
        raise RuntimeError("engine down")

    monkeypatch.setattr(EmbeddedEngine, "synthesize", crash)
    receiver = Receiver()
    task_id = tenant_a.create_task(tenant_a.ready_voice(), callback_url=receiver.url).json()["id"]
    assert wait_for_task(task_id).status == "FAILED"
    receiver.wait_for(1)
    payload = json.loads(receiver.calls[0]["body"])
    assert payload["type"] == "task.failed"
    assert payload["data"]["error"]["code"] == "ENGINE_ERROR"


def test_retries_stop_at_the_cap(tenant_a, worker, loopback_allowed):
    receiver = Receiver(statuses=[503] * 10)
    task_id = tenant_a.create_task(tenant_a.ready_voice(), callback_url=receiver.url).json()["id"]
    wait_for_task(task_id)
    receiver.wait_for(4)
    time.sleep(1.5)
    assert len(receiver.calls) == 4
    assert WebhookDelivery.objects.filter(task_id=task_id).count() == 4


def test_the_owner_views_and_rotates_the_secret(tenant_a):
    from rest_framework.test import APIClient

    owner = APIClient()
    owner.login(username=tenant_a.owner.username, password=tenant_a.password)
    secret = owner.get("/api/v1/webhooks/secret").json()["secret"]
    assert secret.startswith("whsec_")
    assert owner.get("/api/v1/webhooks/secret").json()["secret"] == secret
    rotated = owner.post("/api/v1/webhooks/secret/rotate").json()["secret"]
    assert rotated != secret
    assert owner.get("/api/v1/webhooks/secret").json()["secret"] == rotated


SSRF_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/hook",  # 127.0.0.1 written as a decimal number
    "http://0177.0.0.1/hook",  # ... and in octal
    "http://0x7f.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_internal_callback_urls_are_refused(url):
    with pytest.raises(safe_http.BlockedAddress):
        safe_http.check_url(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/x", "http://2130706433/"])
def test_a_task_with_an_internal_callback_is_refused(tenant_a, url):
    voice = tenant_a.ready_voice()
    response = tenant_a.create_task(voice, callback_url=url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_CALLBACK_URL"
    assert not Task.objects.filter(tenant=tenant_a.tenant).exists()


def test_the_connected_address_is_checked_so_dns_rebinding_fails(monkeypatch):
    """The name resolves to a public address when the task is created and to
    loopback when the webhook is sent: the connection is refused."""
    receiver = Receiver()
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14", "127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):  # DNS is outside the service: this stands in for it
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.example:{receiver.server.server_port}/hook"
    safe_http.check_url(url)  # first answer: public, accepted
    with safe_http.guarded_client(timeout=2) as client, pytest.raises(safe_http.BlockedAddress):
        client.post(url, content=b"{}")
    assert receiver.calls == []
    receiver.server.shutdown()


def test_redirects_to_internal_hosts_are_not_followed(tenant_a, worker, loopback_allowed, settings):
    internal = Receiver()
    redirector = Receiver(statuses=[302] * 10, location=internal.url)
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    task_id = tenant_a.create_task(tenant_a.ready_voice(), callback_url=redirector.url).json()["id"]
    wait_for_task(task_id)
    redirector.wait_for(1)
    time.sleep(0.5)
    assert internal.calls == []
    delivery = WebhookDelivery.objects.get(task_id=task_id)
    assert (delivery.status_code, delivery.succeeded) == (302, False)


def test_a_refused_private_callback_says_which_setting_allows_it(tenant_a):
    response = tenant_a.create_task(tenant_a.ready_voice(), callback_url="http://127.0.0.1:9/hook")
    error = response.json()["error"]
    assert error["code"] == "INVALID_CALLBACK_URL"
    assert "WEBHOOK_ALLOW_PRIVATE" in error["message"]
    assert "WEBHOOK_ALLOW_PRIVATE" in error["details"]["fields"]["callback_url"][0]


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "ftps://example.com/hook", "file:///etc/passwd", "gopher://example.com/",
            "example.com/hook", "http://", "http://[::1/hook", "http://example.com:99999/hook"],
)  # fmt: skip
def test_a_callback_that_is_not_an_http_url_is_invalid_callback_url(tenant_a, url):
    voice = tenant_a.ready_voice()
    for response in (
        tenant_a.create_task(voice, callback_url=url),
        tenant_a.client.post("/api/v1/batches", {"requests": [{"text": "Hi.", "speaker_id": voice}],
                                                 "callback_url": url}, format="json"),
    ):  # fmt: skip
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "INVALID_CALLBACK_URL", (url, response.json())
    assert not Task.objects.filter(tenant=tenant_a.tenant).exists()


METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "http://2852039166/latest/meta-data/",  # the same, as one decimal number
    "http://[::ffff:169.254.169.254]/",  # ... and as IPv4-mapped IPv6
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS over IPv6
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud
    "http://168.63.129.16/machine",  # Azure WireServer (a public address)
]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_addresses_are_refused_even_where_private_ones_are_allowed(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(safe_http.BlockedAddress, match="metadata"):
        safe_http.check_url(url)
    safe_http.check_url("http://127.0.0.1:9/hook")  # private addresses are what the setting allows
    safe_http.check_url("http://10.1.2.3/hook")


def test_a_metadata_callback_is_refused_at_connect_time_too(settings, monkeypatch):
    """Resolved to a private address when checked and to the metadata service when sent."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    real = socket.getaddrinfo
    answers = iter(["10.0.0.7", "169.254.169.254"])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    safe_http.check_url("http://rebind.example/hook")
    with safe_http.guarded_client(timeout=2) as client, pytest.raises(safe_http.BlockedAddress, match="metadata"):
        client.post("http://rebind.example/hook", content=b"{}")


def test_a_webhooks_result_url_is_absolute(tenant_a, worker, loopback_allowed, settings):
    settings.PUBLIC_BASE_URL = ""
    receiver = Receiver()
    task_id = tenant_a.create_task(tenant_a.ready_voice(), callback_url=receiver.url).json()["id"]
    assert wait_for_task(task_id).status == "DONE"
    receiver.wait_for(1)
    url = json.loads(receiver.calls[0]["body"])["data"]["result_url"]
    assert url.startswith(settings.LOCAL_BASE_URL + "/api/v1/results/")  # a worker has no request: the deployment's


def test_a_batch_sends_one_signed_batch_completed_event_after_its_items(tenant_a, worker, loopback_allowed, settings):
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    receiver = Receiver()
    voice = tenant_a.ready_voice()
    requests = [{"text": f"Item {i}. A short one.", "speaker_id": voice} for i in range(3)]
    batch = tenant_a.client.post("/api/v1/batches", {"requests": requests, "callback_url": receiver.url},
                                 format="json").json()  # fmt: skip
    for task in batch["tasks"]:
        wait_for_task(task["id"])
    receiver.wait_for(4)  # three task events and the batch's
    time.sleep(1.0)
    assert len(receiver.calls) == 4
    secret = webhooks.tenant_secret(tenant_a.tenant)
    events = [Webhook(secret).verify(call["body"], call["headers"]) for call in receiver.calls]
    completed = [e for e in events if e["type"] == "batch.completed"]
    assert len(completed) == 1
    data = completed[0]["data"]
    assert (data["batch_id"], data["status"], data["total"], data["done"], data["failed"]) == (batch["id"], "DONE",
                                                                                                 3, 3, 0)  # fmt: skip
    assert [t["task_id"] for t in data["tasks"]] == [t["id"] for t in batch["tasks"]]
    for item in data["tasks"]:
        assert item["result_url"].startswith("https://voice.example.com/api/v1/results/")
    call = next(c for c in receiver.calls if json.loads(c["body"])["type"] == "batch.completed")
    assert call["headers"]["webhook-id"] == f"msg_batch_{data['batch_id'].replace('-', '')}"
    assert tenant_a.client.get(f"/api/v1/batches/{batch['id']}").json()["completed_at"]
    assert WebhookDelivery.objects.filter(batch_id=batch["id"], task=None, succeeded=True).count() == 1


def test_a_batch_whose_items_are_all_cancelled_completes_as_failed(tenant_a, loopback_allowed):
    from synthesis.models import Batch

    voice = tenant_a.ready_voice()
    receiver = Receiver()
    batch = tenant_a.client.post("/api/v1/batches", {"requests": [{"text": "One.", "speaker_id": voice}] * 2,
                                                     "callback_url": receiver.url}, format="json").json()  # fmt: skip
    first, second = (t["id"] for t in batch["tasks"])
    tenant_a.client.post(f"/api/v1/tasks/{first}/cancel")
    assert Batch.objects.get(id=batch["id"]).completed_at is None  # one item is still queued
    tenant_a.client.post(f"/api/v1/tasks/{second}/cancel")
    row = Batch.objects.get(id=batch["id"])
    assert row.completed_at is not None
    assert row.webhook_due_at is not None
    webhooks.deliver_batch(batch_id=row.id)  # what the worker's job runs
    webhooks.deliver_batch(batch_id=row.id)  # a duplicate message: nothing is due any more
    assert len(receiver.calls) == 1
    data = json.loads(receiver.calls[0]["body"])["data"]
    assert (data["status"], data["cancelled"], data["done"]) == ("FAILED", 2, 0)
    assert Batch.objects.get(id=row.id).webhook_due_at is None


def test_a_batch_completes_once_when_its_last_items_end_at_the_same_time(transactional_db, tenant_a):
    """Eight workers end the batch's items at once: exactly one of them completes it."""
    import threading

    from django.db import connection, transaction

    from synthesis.models import Batch, TaskStatus
    from synthesis.services.batches import batch_item_ended

    voice = tenant_a.ready_voice()
    body = {"requests": [{"text": "One.", "speaker_id": voice}] * 8}
    batch = tenant_a.client.post("/api/v1/batches", body, format="json").json()
    tasks = list(Task.objects.select_related("tenant").filter(batch_id=batch["id"]))
    barrier = threading.Barrier(len(tasks))
    completed = []

    def end(task):
        try:
            barrier.wait()
            with transaction.atomic():
                Task.objects.filter(id=task.id).update(status=TaskStatus.DONE)
                completed.append(batch_item_ended(task))
        finally:
            connection.close()

    threads = [threading.Thread(target=end, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(completed) == [False] * 7 + [True]
    assert Batch.objects.get(id=batch["id"]).completed_at is not None
