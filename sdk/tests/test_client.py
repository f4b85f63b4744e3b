"""Unit tests of the SDK's own logic. The remote service is replaced by httpx.MockTransport
(it lies outside the SDK); tests/test_sdk.py runs the SDK against the real service."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sovits_client import AsyncClient, Client, NotFound, RateLimited, ServerError, ValidationError

TASK = {"id": "t1", "status": "PENDING", "progress": 0}


def envelope(code: str, status: int, retryable: bool = False, **details) -> httpx.Response:
    body = {"error": {"code": code, "category": "CLIENT", "message": code.lower(), "retryable": retryable,
                      "details": details, "request_id": "r1"}}  # fmt: skip
    return httpx.Response(status, json=body)


def client_with(handler, sleeps=None) -> Client:
    return Client("http://svc", "sk_live_x", transport=httpx.MockTransport(handler),
                  sleep=(sleeps.append if sleeps is not None else lambda s: None))  # fmt: skip


def test_errors_carry_the_envelope():
    api = client_with(lambda request: envelope("NOT_FOUND", 404, task_id="t9"))
    with pytest.raises(NotFound) as caught:
        api.get_task("t9")
    assert (caught.value.code, caught.value.details, caught.value.request_id) == ("NOT_FOUND", {"task_id": "t9"}, "r1")


def test_a_non_json_error_still_raises_with_an_http_code():
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ServerError) as caught:
        Client("http://svc", "k", max_retries=0, transport=transport).get_task("x")
    assert caught.value.code == "HTTP_502"


def test_retryable_errors_are_retried_then_succeed():
    answers = iter([envelope("SERVICE_UNAVAILABLE", 503, retryable=True), httpx.Response(200, json=TASK)])
    sleeps: list[float] = []
    api = client_with(lambda request: next(answers), sleeps)
    assert api.get_task("t1") == TASK
    assert len(sleeps) == 1


def test_429_waits_as_long_as_retry_after_says():
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"code": "RATE_LIMITED", "retryable": True}}),
        httpx.Response(200, json=TASK),
    ])  # fmt: skip
    sleeps: list[float] = []
    assert client_with(lambda request: next(answers), sleeps).get_task("t1") == TASK
    assert sleeps == [7.0]


def test_429_gives_up_after_max_retries_with_the_wait_in_the_error():
    api = client_with(
        lambda r: httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "RATE_LIMITED"}})
    )
    with pytest.raises(RateLimited) as caught:
        api.get_task("t1")
    assert caught.value.retry_after == 1.0


def test_client_errors_are_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return envelope("VALIDATION_ERROR", 400, fields={"text": ["blank"]})

    with pytest.raises(ValidationError):
        client_with(handler).create_task("", "s1")
    assert len(calls) == 1


def test_a_retried_create_sends_the_same_idempotency_key():
    keys = []

    def handler(request):
        keys.append(request.headers["Idempotency-Key"])
        return (
            envelope("SERVICE_UNAVAILABLE", 503, retryable=True) if len(keys) == 1 else httpx.Response(202, json=TASK)
        )

    assert client_with(handler).create_task("Hello.", "s1")["id"] == "t1"
    assert len(keys) == 2
    assert keys[0] == keys[1]


def test_list_tasks_follows_every_page():
    def handler(request):
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"count": 3, "next": None, "results": [{"id": "c"}]})
        return httpx.Response(200, json={"count": 3, "next": "http://svc/api/v1/tasks?page=2",
                                         "results": [{"id": "a"}, {"id": "b"}]})  # fmt: skip

    assert [t["id"] for t in client_with(handler).list_tasks(status="DONE")] == ["a", "b", "c"]


def test_wait_falls_back_to_polling_when_no_socket_can_be_had():
    states = iter(["PENDING", "PROCESSING", "DONE"])

    def handler(request):
        if request.url.path == "/api/v1/auth/ws-ticket":
            return envelope("PERMISSION_DENIED", 403)
        return httpx.Response(200, json={**TASK, "status": next(states)})

    assert client_with(handler).wait("t1", timeout=5)["status"] == "DONE"


def test_the_async_client_retries_and_raises_like_the_sync_one():
    answers = iter([envelope("SERVICE_UNAVAILABLE", 503, retryable=True), httpx.Response(200, json=TASK),
                    envelope("NOT_FOUND", 404)])  # fmt: skip

    async def no_sleep(seconds):
        return None

    async def scenario():
        async with AsyncClient("http://svc", "k", transport=httpx.MockTransport(lambda r: next(answers)),
                               sleep=no_sleep) as api:  # fmt: skip
            assert await api.get_task("t1") == TASK
            with pytest.raises(NotFound):
                await api.get_task("t2")

    asyncio.run(scenario())


def test_batches_send_their_requests():
    seen = {}

    def handler(request):
        seen.update(json.loads(request.content))
        return httpx.Response(202, json={"id": "b1", "tasks": []})

    client_with(handler).batch_synthesize([{"text": "a", "speaker_id": "s"}], priority=1)
    assert seen == {"requests": [{"text": "a", "speaker_id": "s"}], "priority": 1}
