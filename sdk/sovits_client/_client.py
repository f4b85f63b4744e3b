"""The synchronous client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from sovits_client._core import FINISHED, Core
from sovits_client._errors import ApiError, TaskFailed

Task = dict[str, Any]


class Client:
    """``with Client("http://127.0.0.1:8000", "sk_live_…") as api: api.synthesize("Hi.", voice_id)``"""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):  # fmt: skip
        self._core = Core(base_url, api_key, max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.Client(base_url=self._core.base_url, headers=self._core.headers, timeout=timeout,
                                  transport=transport)  # fmt: skip

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None, idempotent: bool = False,
                 **kwargs) -> httpx.Response:  # fmt: skip
        headers = headers or {}
        attempt = 0
        while True:
            try:
                return self._core.check(self._http.request(method, path, headers=headers, **kwargs))
            except (ApiError, httpx.TransportError) as error:
                if not self._core.should_retry(attempt, method, headers, error, idempotent):
                    raise
                self._sleep(self._core.delay(attempt, error if isinstance(error, ApiError) else None))
                attempt += 1

    # --- voices -----------------------------------------------------------------
    def create_voice(self, name: str, audio: str | Path | bytes | IO[bytes], *, language: str,
                     reference_text: str = "") -> dict:  # fmt: skip
        content = Path(audio).read_bytes() if isinstance(audio, str | Path) else audio
        files = {"audio": ("reference", content)}
        data = {"name": name, "language": language, "reference_text": reference_text}
        return self._request("POST", "/api/v1/speakers", data=data, files=files).json()

    def get_voice(self, voice_id: str) -> dict:
        return self._request("GET", f"/api/v1/speakers/{voice_id}").json()

    def list_voices(self) -> list[dict]:
        return list(self._pages("/api/v1/speakers", {}))

    def delete_voice(self, voice_id: str) -> None:
        self._request("DELETE", f"/api/v1/speakers/{voice_id}")

    def wait_for_voice(self, voice_id: str, *, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while (voice := self.get_voice(voice_id))["status"] == "PROCESSING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"voice {voice_id} still PROCESSING after {timeout} s")
            self._sleep(1.0)
        return voice

    # --- tasks ------------------------------------------------------------------
    def create_task(self, text: str, speaker_id: str, *, language: str = "auto", priority: int = 0,
                    speed: float | None = None, output_format: str | None = None, sample_rate: int | None = None,
                    callback_url: str | None = None, idempotency_key: str | None = None) -> Task:  # fmt: skip
        body = self._core.task_body(text, speaker_id, language=language, priority=priority, speed=speed,
                                    output_format=output_format, sample_rate=sample_rate,
                                    callback_url=callback_url)  # fmt: skip
        return self._request("POST", "/api/v1/tasks", json=body, headers=self._core.idempotency(idempotency_key)).json()

    def get_task(self, task_id: str) -> Task:
        return self._request("GET", f"/api/v1/tasks/{task_id}").json()

    def cancel_task(self, task_id: str) -> Task:
        return self._request("POST", f"/api/v1/tasks/{task_id}/cancel", idempotent=True).json()

    def list_tasks(self, *, status: str | None = None, speaker_id: str | None = None) -> Iterator[Task]:
        params = {k: v for k, v in {"status": status, "speaker_id": speaker_id}.items() if v}
        return self._pages("/api/v1/tasks", params)

    def _pages(self, path: str, params: dict) -> Iterator[dict]:
        url: str | None = path
        while url:
            page = self._request("GET", url, params=params if url == path else None).json()
            yield from page["results"]
            url = page.get("next")

    def wait(self, task_id: str, *, timeout: float = 300.0) -> Task:
        """Until the task is DONE, FAILED or CANCELLED: live over a WebSocket, or by polling
        once a second if the socket cannot be opened or drops (its messages are only hints)."""
        deadline = time.monotonic() + timeout
        try:
            task = self._wait_socket(task_id, deadline)
            if task is not None:
                return task
        except Exception:  # noqa: S110 - any socket trouble: fall back to polling
            pass
        while (task := self.get_task(task_id))["status"] not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} unfinished after {timeout} s")
            self._sleep(1.0)
        return task

    def _wait_socket(self, task_id: str, deadline: float) -> Task | None:
        from websockets.sync.client import connect

        ticket = self._request("POST", "/api/v1/auth/ws-ticket", idempotent=True).json()
        with connect(self._core.ws_url(task_id, ticket["ticket"]), open_timeout=10) as socket:
            while time.monotonic() < deadline:
                message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message.get("type") == "task" and message["task"]["status"] in FINISHED:
                    return self.get_task(task_id)  # the REST state is the truth
        return None

    def download(self, task_id: str, path: str | Path | None = None) -> bytes:
        data = self._request("GET", f"/api/v1/tasks/{task_id}/audio").content
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def synthesize(self, text: str, speaker_id: str, *, timeout: float = 300.0, **options) -> bytes:
        """Create, wait, download: the audio, or TaskFailed with the task's error."""
        task = self.wait(self.create_task(text, speaker_id, **options)["id"], timeout=timeout)
        if task["status"] != "DONE":
            raise TaskFailed(200, task.get("error") or {"code": task["status"], "message": f"task {task['status']}"})
        return self.download(task["id"])

    # --- batches ----------------------------------------------------------------
    def batch_synthesize(self, requests: list[dict], *, priority: int = 0, callback_url: str | None = None,
                         idempotency_key: str | None = None) -> dict:  # fmt: skip
        body: dict[str, Any] = {"requests": requests, "priority": priority}
        if callback_url:
            body["callback_url"] = callback_url
        return self._request("POST", "/api/v1/batches", json=body,
                             headers=self._core.idempotency(idempotency_key)).json()  # fmt: skip

    def get_batch(self, batch_id: str) -> dict:
        return self._request("GET", f"/api/v1/batches/{batch_id}").json()
