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
    assert response.json()["error"]["code"] in ("INVALID_CALLBACK_URL", "VALIDATION_ERROR")
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
