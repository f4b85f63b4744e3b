"""Unit tests of the SDK's own logic.

The remote service is replaced by ``httpx.MockTransport`` (and, for ``wait``, a small local WebSocket
server): it lies outside the SDK. tests/test_sdk.py runs the SDK against the real service.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from sovits_client import (
    ApiError,
    AsyncClient,
    AuthenticationError,
    Client,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TaskFailed,
    ValidationError,
)
from sovits_client._core import Core
from sovits_client._errors import parse_retry_after
from websockets.sync.server import ServerConnection, serve

TASK = {"id": "t1", "status": "PENDING", "progress": 0}
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(status: int, code: str, *, retryable: bool = False, headers=None, **details) -> httpx.Response:
    error = {
        "code": code,
        "category": "SERVER" if status >= 500 else "CLIENT",
        "message": code.lower().replace("_", " "),
        "retryable": retryable,
        "details": details,
        "request_id": "req-1",
    }
    return httpx.Response(status, json={"error": error}, headers=headers)


def client_with(handler: Handler, sleeps: list[float] | None = None, **kwargs) -> Client:
    sleep = sleeps.append if sleeps is not None else (lambda seconds: None)
    return Client("http://svc", "sk_test", transport=httpx.MockTransport(handler), sleep=sleep, **kwargs)


def async_client_with(handler: Handler, sleeps: list[float] | None = None, **kwargs) -> AsyncClient:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return AsyncClient("http://svc", "sk_test", transport=httpx.MockTransport(handler), sleep=sleep, **kwargs)


def answers(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving these answers in turn, and the list of requests it saw."""
    seen: list[httpx.Request] = []
    queue = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(queue)

    return handler, seen


# --- errors -------------------------------------------------------------------------------------------------


def test_the_envelope_becomes_an_exception_with_every_field():
    api = client_with(lambda request: envelope(404, "NOT_FOUND", task_id="t9"))
    with pytest.raises(NotFound) as caught:
        api.get_task("t9")
    error = caught.value
    assert (error.status, error.code, error.category, error.message) == (404, "NOT_FOUND", "CLIENT", "not found")
    assert (error.retryable, error.details, error.request_id) == (False, {"task_id": "t9"}, "req-1")
    assert isinstance(error, ApiError)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFound),
        (409, ApiError),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_each_status_raises_its_own_class(status, kind):
    api = client_with(lambda request: envelope(status, "SOME_CODE"), max_retries=0)
    with pytest.raises(kind) as caught:
        api.get_task("t1")
    assert caught.value.code == "SOME_CODE"


def test_a_non_json_error_still_raises_with_an_http_code():
    api = client_with(lambda request: httpx.Response(502, text="<html>bad gateway</html>"), max_retries=0)
    with pytest.raises(ServerError) as caught:
        api.get_task("t1")
    assert caught.value.code == "HTTP_502"
    assert caught.value.category == "SERVER"
    assert "bad gateway" in caught.value.message


def test_the_api_key_goes_in_its_header():
    handler, seen = answers(httpx.Response(200, json=TASK))
    client_with(handler).get_task("t1")
    assert seen[0].headers["X-API-Key"] == "sk_test"


# --- retries ------------------------------------------------------------------------------------------------


def test_a_503_is_retried_then_succeeds_after_a_jittered_backoff():
    handler, seen = answers(envelope(503, "SERVICE_UNAVAILABLE", retryable=True), httpx.Response(200, json=TASK))
    sleeps: list[float] = []
    assert client_with(handler, sleeps).get_task("t1") == TASK
    assert len(seen) == 2
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 0.5


def test_backoff_grows_exponentially_up_to_the_cap():
    core = Core("http://svc", "k", max_retries=10, jitter=lambda low, high: high)
    assert [core.backoff(attempt) for attempt in range(8)] == [0.5, 1, 2, 4, 8, 16, 20, 20]


def test_retries_stop_after_max_retries():
    handler, seen = answers(*[envelope(503, "SERVICE_UNAVAILABLE", retryable=True)] * 3)
    with pytest.raises(ServerError):
        client_with(handler, max_retries=2).get_task("t1")
    assert len(seen) == 3


def test_429_waits_as_long_as_retry_after_says():
    handler, _ = answers(
        envelope(429, "RATE_LIMITED", retryable=True, headers={"Retry-After": "7"}), httpx.Response(200, json=TASK)
    )
    sleeps: list[float] = []
    assert client_with(handler, sleeps).get_task("t1") == TASK
    assert sleeps == [7.0]


def test_429_gives_up_after_max_retries_with_the_advice_in_the_error():
    api = client_with(lambda request: envelope(429, "RATE_LIMITED", headers={"Retry-After": "2"}), max_retries=1)
    with pytest.raises(RateLimited) as caught:
        api.get_task("t1")
    assert caught.value.retry_after == 2.0


def test_retry_after_may_be_an_http_date():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < parse_retry_after(later) <= 30
    assert parse_retry_after("soon") is None


def test_client_errors_are_not_retried():
    handler, seen = answers(envelope(400, "VALIDATION_ERROR", fields={"text": ["blank"]}))
    with pytest.raises(ValidationError) as caught:
        client_with(handler).create_task("", "s1")
    assert len(seen) == 1
    assert caught.value.details == {"fields": {"text": ["blank"]}}


def test_a_retryable_envelope_is_retried_whatever_its_status():
    handler, seen = answers(envelope(500, "ENGINE_BUSY", retryable=True), httpx.Response(200, json=TASK))
    assert client_with(handler).get_task("t1") == TASK
    assert len(seen) == 2


def test_connection_errors_are_retried():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=TASK)

    assert client_with(handler).get_task("t1") == TASK
    assert len(calls) == 2


def test_the_auto_idempotency_key_is_the_same_across_retries_of_one_create():
    handler, seen = answers(
        envelope(503, "SERVICE_UNAVAILABLE", retryable=True),
        httpx.Response(202, json=TASK),
        httpx.Response(202, json={**TASK, "id": "t2"}),
    )
    api = client_with(handler)
    assert api.create_task("Hello.", "s1")["id"] == "t1"
    api.create_task("Hello.", "s1")
    keys = [request.headers["Idempotency-Key"] for request in seen]
    assert keys[0] == keys[1]
    assert keys[2] != keys[0]  # a new call is new work, with a new key


def test_the_callers_idempotency_key_is_used_and_the_body_holds_only_set_options():
    handler, seen = answers(httpx.Response(202, json=TASK))
    client_with(handler).create_task("Hi.", "s1", speed=1.2, output_format="mp3", idempotency_key="mine")
    assert seen[0].headers["Idempotency-Key"] == "mine"
    assert json.loads(seen[0].content) == {
        "text": "Hi.",
        "speaker_id": "s1",
        "language": "auto",
        "priority": 0,
        "output_format": "mp3",
        "params": {"speed": 1.2},
    }


def test_batches_carry_an_idempotency_key_and_their_requests():
    handler, seen = answers(envelope(502, "HTTP_502"), httpx.Response(202, json={"id": "b1", "tasks": []}))
    items = [{"text": "a", "speaker_id": "s"}]
    assert client_with(handler).batch_synthesize(items, priority=1)["id"] == "b1"
    assert json.loads(seen[1].content) == {"requests": items, "priority": 1}
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_a_voice_upload_is_not_repeated_after_a_server_error_but_is_after_a_429(tmp_path):
    reference = tmp_path / "narrator.wav"
    reference.write_bytes(b"RIFF....")
    handler, seen = answers(envelope(503, "SERVICE_UNAVAILABLE", retryable=True))
    with pytest.raises(ServerError):
        client_with(handler).create_voice("Narrator", reference, language="en")
    assert len(seen) == 1

    handler, seen = answers(envelope(429, "RATE_LIMITED"), httpx.Response(201, json={"id": "v1"}))
    assert client_with(handler).create_voice("Narrator", reference, language="en")["id"] == "v1"
    assert b'filename="narrator.wav"' in seen[1].content
    assert b"RIFF...." in seen[1].content


# --- lists, downloads, synthesize ---------------------------------------------------------------------------


def paged_tasks(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("page") == "2":
        return httpx.Response(200, json={"count": 3, "next": None, "previous": None, "results": [{"id": "c"}]})
    assert request.url.params["status"] == "DONE"
    page1 = {"count": 3, "next": "http://svc/api/v1/tasks?page=2&status=DONE", "previous": None}
    return httpx.Response(200, json={**page1, "results": [{"id": "a"}, {"id": "b"}]})


def test_list_tasks_follows_every_page():
    assert [task["id"] for task in client_with(paged_tasks).list_tasks(status="DONE")] == ["a", "b", "c"]


def test_download_returns_the_bytes_and_can_write_a_file(tmp_path):
    api = client_with(lambda request: httpx.Response(200, content=b"RIFFaudio"))
    target = tmp_path / "out.wav"
    assert api.download("t1", target) == b"RIFFaudio"
    assert target.read_bytes() == b"RIFFaudio"


def test_synthesize_raises_task_failed_with_the_tasks_error():
    error = {"code": "ENGINE_ERROR", "category": "SYSTEM", "message": "boom", "retryable": False, "details": {}}

    def handler(request):
        if request.url.path == "/api/v1/auth/ws-ticket":
            return envelope(403, "PERMISSION_DENIED")
        if request.method == "POST":
            return httpx.Response(202, json=TASK)
        return httpx.Response(200, json={**TASK, "status": "FAILED", "error": error})

    with pytest.raises(TaskFailed) as caught:
        client_with(handler).synthesize("Hi.", "s1")
    assert (caught.value.code, caught.value.message, caught.value.category) == ("ENGINE_ERROR", "boom", "SYSTEM")
    assert caught.value.task["status"] == "FAILED"


# --- wait ---------------------------------------------------------------------------------------------------


def polling_handler(states: list[str], seen: list[str] | None = None) -> Handler:
    """No ticket to be had; the task moves through ``states`` as it is polled."""
    queue = iter(states)

    def handler(request):
        if seen is not None:
            seen.append(request.url.path)
        if request.url.path == "/api/v1/auth/ws-ticket":
            return envelope(403, "PERMISSION_DENIED")
        return httpx.Response(200, json={**TASK, "status": next(queue)})

    return handler


def test_wait_falls_back_to_polling_when_the_ticket_endpoint_fails():
    sleeps: list[float] = []
    assert client_with(polling_handler(["PENDING", "PROCESSING", "DONE"]), sleeps).wait("t1")["status"] == "DONE"
    assert sleeps == [1.0, 1.0]


def test_wait_raises_timeout_error_when_the_task_does_not_finish():
    with pytest.raises(TimeoutError):
        client_with(polling_handler(["PROCESSING"])).wait("t1", timeout=0)


@pytest.fixture
def socket_server() -> Iterator[tuple[int, list[str]]]:
    """A local stand-in for the service's task socket: the state at once, then the change; ticket "bad" is
    refused with 4403. Yields the port and the paths it was asked for."""
    paths: list[str] = []

    def handler(connection: ServerConnection) -> None:
        paths.append(connection.request.path)
        if connection.request.path.endswith("ticket=bad"):
            connection.close(4403)
            return
        for status in ("PROCESSING", "DONE"):
            connection.send(json.dumps({"type": "task", "task": {**TASK, "status": status}}))
        connection.recv()  # hold the socket open until the client leaves

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.socket.getsockname()[1], paths
        server.shutdown()
        thread.join(timeout=5)


def socket_rest(ticket: str, seen: list[str]) -> Handler:
    def handler(request):
        seen.append(request.url.path)
        if request.url.path == "/api/v1/auth/ws-ticket":
            return httpx.Response(200, json={"ticket": ticket, "expires_in": 60})
        return httpx.Response(200, json={**TASK, "status": "DONE"})

    return handler


def test_wait_follows_the_websocket_without_polling(socket_server):
    port, paths = socket_server
    seen: list[str] = []
    sleeps: list[float] = []
    transport = httpx.MockTransport(socket_rest("good", seen))
    with Client(f"http://127.0.0.1:{port}", "k", transport=transport, sleep=sleeps.append) as api:
        assert api.wait("t1", timeout=10)["status"] == "DONE"
    assert paths == ["/ws/tasks/t1/?ticket=good"]
    assert seen == ["/api/v1/auth/ws-ticket", "/api/v1/tasks/t1"]  # one read, once the socket said DONE
    assert sleeps == []


def test_wait_polls_when_the_socket_is_refused_with_4403(socket_server):
    port, paths = socket_server
    seen: list[str] = []
    with Client(f"http://127.0.0.1:{port}", "k", transport=httpx.MockTransport(socket_rest("bad", seen))) as api:
        assert api.wait("t1", timeout=10)["status"] == "DONE"
    assert paths == ["/ws/tasks/t1/?ticket=bad"]
    assert seen == ["/api/v1/auth/ws-ticket", "/api/v1/tasks/t1"]


def test_the_socket_url_follows_the_base_urls_scheme():
    assert Core("https://api.example.com/", "k").ws_url("t1", "x") == "wss://api.example.com/ws/tasks/t1/?ticket=x"
    assert Core("http://127.0.0.1:8000", "k").ws_url("t1", "x") == "ws://127.0.0.1:8000/ws/tasks/t1/?ticket=x"


# --- the async client ---------------------------------------------------------------------------------------


def test_async_client_retries_a_503_and_raises_like_the_sync_one():
    handler, seen = answers(
        envelope(503, "SERVICE_UNAVAILABLE", retryable=True), httpx.Response(200, json=TASK), envelope(404, "NOT_FOUND")
    )

    async def scenario():
        async with async_client_with(handler) as api:
            assert await api.get_task("t1") == TASK
            with pytest.raises(NotFound):
                await api.get_task("t2")

    asyncio.run(scenario())
    assert len(seen) == 3


def test_async_client_honours_retry_after_and_keeps_the_idempotency_key():
    handler, seen = answers(envelope(429, "RATE_LIMITED", headers={"Retry-After": "3"}), httpx.Response(202, json=TASK))
    sleeps: list[float] = []

    async def scenario():
        async with async_client_with(handler, sleeps) as api:
            return await api.create_task("Hi.", "s1")

    assert asyncio.run(scenario()) == TASK
    assert sleeps == [3.0]
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_async_client_does_not_retry_a_400():
    handler, seen = answers(envelope(400, "VALIDATION_ERROR"))

    async def scenario():
        async with async_client_with(handler) as api:
            await api.create_task("", "s1")

    with pytest.raises(ValidationError):
        asyncio.run(scenario())
    assert len(seen) == 1


def test_async_list_tasks_follows_every_page():
    async def scenario():
        async with async_client_with(paged_tasks) as api:
            return [task["id"] async for task in api.list_tasks(status="DONE")]

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_async_wait_falls_back_to_polling():
    sleeps: list[float] = []

    async def scenario():
        async with async_client_with(polling_handler(["PENDING", "DONE"]), sleeps) as api:
            return await api.wait("t1")

    assert asyncio.run(scenario())["status"] == "DONE"
    assert sleeps == [1.0]


def test_async_wait_follows_the_websocket(socket_server):
    port, paths = socket_server
    seen: list[str] = []

    async def scenario():
        transport = httpx.MockTransport(socket_rest("good", seen))
        async with AsyncClient(f"http://127.0.0.1:{port}", "k", transport=transport) as api:
            return await api.wait("t1", timeout=10)

    assert asyncio.run(scenario())["status"] == "DONE"
    assert paths == ["/ws/tasks/t1/?ticket=good"]
    assert seen == ["/api/v1/auth/ws-ticket", "/api/v1/tasks/t1"]
