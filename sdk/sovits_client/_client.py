"""The synchronous client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from sovits_client._core import POLL_INTERVAL, AudioInput, Core, seg
from sovits_client._errors import ApiError, TaskFailed
from sovits_client._models import FINISHED, Batch, BatchRequest, Language, OutputFormat, Page, Speaker, Task


class Client:
    """The voice platform API over HTTP, blocking. Use it as a context manager so connections are closed.

    ``with Client("http://127.0.0.1:8000", "sk_live_…") as api: audio = api.synthesize("Hi.", voice_id)``

    ``sleep`` and ``transport`` are for tests: a fake sleep makes retries instant and observable, and an
    ``httpx.MockTransport`` stands in for the service.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._core = Core(base_url, api_key, max_retries=max_retries)
        self._sleep = sleep
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self._core.base_url, headers=self._core.headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, retry_safe: bool = True, **kwargs: Any) -> httpx.Response:
        """Send, raising ``ApiError`` for non-2xx answers, and retrying as ``Core.retry_delay`` allows."""
        attempt = 0
        while True:
            try:
                return self._core.check(self._http.request(method, path, **kwargs))
            except (ApiError, httpx.TransportError) as error:
                delay = self._core.retry_delay(attempt, error, retry_safe=retry_safe)
                if delay is None:
                    raise
            self._sleep(delay)
            attempt += 1

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[Any]:
        # Follow the service's own ``next`` links: they carry the filters and survive pagination changes.
        url: str | None = path
        while url:
            page: Page[Any] = self._json("GET", url, params=params if url == path else None)
            yield from page["results"]
            url = page.get("next")

    # --- voices -------------------------------------------------------------------------------------------

    def create_voice(
        self,
        name: str,
        audio: AudioInput,
        *,
        language: Language,
        reference_text: str = "",
        engine: str | None = None,
        model_id: str | None = None,
    ) -> Speaker:
        """Upload a reference recording. The voice starts PROCESSING; see ``wait_for_voice``.
        ``engine`` (default: the service's first) and, for GPT-SoVITS, ``model_id`` (default: the
        default model) are fixed for the voice; GPT-SoVITS needs ``reference_text``.

        Not retried after the upload was sent (the service has no idempotency for voices, so a retry could
        create the voice twice); still retried on 429 and when the connection never opened.
        """
        form = self._core.voice_form(name, language, reference_text, engine, model_id)
        files = {"audio": self._core.audio_file(audio)}
        return self._json("POST", "/api/v1/speakers", data=form, files=files, retry_safe=False)

    def list_models(self) -> list[dict]:
        """The model pairs the tenant's voices may use (GPT-SoVITS)."""
        return self._json("GET", "/api/v1/models")

    def get_voice(self, voice_id: str) -> Speaker:
        return self._json("GET", f"/api/v1/speakers/{seg(voice_id)}")

    def list_voices(self) -> list[Speaker]:
        """Every voice of the tenant, across all pages."""
        return list(self._pages("/api/v1/speakers", {}))

    def delete_voice(self, voice_id: str) -> None:
        self._request("DELETE", f"/api/v1/speakers/{seg(voice_id)}")

    def wait_for_voice(self, voice_id: str, timeout: float = 120.0) -> Speaker:
        """Poll until the voice is READY or FAILED (returned, not raised: the voice's ``error`` says why)."""
        deadline = time.monotonic() + timeout
        while (voice := self.get_voice(voice_id))["status"] == "PROCESSING":
            if time.monotonic() >= deadline:
                raise TimeoutError(f"voice {voice_id} still PROCESSING after {timeout} s")
            self._sleep(POLL_INTERVAL)
        return voice

    # --- tasks --------------------------------------------------------------------------------------------

    def create_task(
        self,
        text: str,
        speaker_id: str,
        *,
        language: Language = "auto",
        priority: int = 0,
        speed: float | None = None,
        output_format: OutputFormat | None = None,
        sample_rate: int | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Queue a synthesis. Always sent with an Idempotency-Key (a fresh uuid4 unless given), so it is
        retried safely; pass your own key to make a create safe to repeat across processes too."""
        body = self._core.task_body(
            text,
            speaker_id,
            language=language,
            priority=priority,
            speed=speed,
            output_format=output_format,
            sample_rate=sample_rate,
            callback_url=callback_url,
        )
        return self._json("POST", "/api/v1/tasks", json=body, headers=self._core.idempotency(idempotency_key))

    def get_task(self, task_id: str) -> Task:
        return self._json("GET", f"/api/v1/tasks/{seg(task_id)}")

    def cancel_task(self, task_id: str) -> Task:
        """Cancel a PENDING or PROCESSING task; cancelling is idempotent, so it is retried like a read."""
        return self._json("POST", f"/api/v1/tasks/{seg(task_id)}/cancel")

    def list_tasks(self, status: str | None = None, speaker_id: str | None = None) -> Iterator[Task]:
        """Every matching task, newest first, fetching pages lazily as the iterator is consumed."""
        return self._pages("/api/v1/tasks", self._core.list_params(status, speaker_id))

    def wait(self, task_id: str, *, timeout: float = 300.0) -> Task:
        """Block until the task is DONE, FAILED or CANCELLED and return it; TimeoutError after ``timeout`` s.

        Follows the task live over a WebSocket; if no socket can be had (no ticket, a proxy without
        WebSocket support, a 4403 close) or it drops, polls once a second instead, so waiting never
        depends on the socket working.
        """
        deadline = time.monotonic() + timeout
        try:
            return self._wait_socket(task_id, deadline)
        except Exception:  # noqa: S110 - any socket trouble at all: polling below is the fallback by design
            pass
        while (task := self.get_task(task_id))["status"] not in FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"task {task_id} still {task['status']} after {timeout} s")
            self._sleep(min(POLL_INTERVAL, remaining))
        return task

    def _wait_socket(self, task_id: str, deadline: float) -> Task:
        """The finished task, as soon as the socket reports it; raises on any trouble, or at the deadline."""
        from websockets.sync.client import connect

        ticket = self._json("POST", "/api/v1/auth/ws-ticket")["ticket"]
        open_timeout = min(self._timeout, max(0.1, deadline - time.monotonic()))
        with connect(self._core.ws_url(task_id, ticket), open_timeout=open_timeout) as socket:
            while True:
                message = json.loads(socket.recv(timeout=max(0.0, deadline - time.monotonic())))
                if message.get("type") == "task" and message["task"]["status"] in FINISHED:
                    # Re-read over REST: its answer is authoritative and carries a signed result_url.
                    return self.get_task(task_id)

    def download(self, task_id: str, path: str | Path | None = None) -> bytes:
        """The task's audio (409 TASK_NOT_DONE before it is DONE); also written to ``path`` when given."""
        data = self._request("GET", f"/api/v1/tasks/{seg(task_id)}/audio").content
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def synthesize(self, text: str, speaker_id: str, *, timeout: float = 300.0, **options: Any) -> bytes:
        """Create, wait, download: the audio bytes, or ``TaskFailed`` carrying the task's error.

        ``options`` are ``create_task``'s keyword arguments.
        """
        task = self.wait(self.create_task(text, speaker_id, **options)["id"], timeout=timeout)
        if task["status"] != "DONE":
            raise TaskFailed(task)
        return self.download(task["id"])

    # --- batches ------------------------------------------------------------------------------------------

    def batch_synthesize(
        self,
        requests: list[BatchRequest] | list[dict[str, Any]],
        *,
        priority: int = 0,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        """Queue many syntheses at once; like ``create_task``, always sent with an Idempotency-Key."""
        body = self._core.batch_body(requests, priority, callback_url)
        return self._json("POST", "/api/v1/batches", json=body, headers=self._core.idempotency(idempotency_key))

    def get_batch(self, batch_id: str) -> Batch:
        return self._json("GET", f"/api/v1/batches/{seg(batch_id)}")
