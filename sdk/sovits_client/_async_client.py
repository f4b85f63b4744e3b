"""The asynchronous client: the same methods as ``Client``, awaited."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import httpx

from sovits_client._core import FINISHED, Core
from sovits_client._errors import ApiError, TaskFailed

Task = dict[str, Any]


class AsyncClient:
    """``async with AsyncClient(url, key) as api: audio = await api.synthesize("Hi.", voice_id)``"""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_retries: int = 3,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None):  # fmt: skip
        self._core = Core(base_url, api_key, max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.AsyncClient(base_url=self._core.base_url, headers=self._core.headers, timeout=timeout,
                                       transport=transport)  # fmt: skip

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                       idempotent: bool = False, **kwargs) -> httpx.Response:  # fmt: skip
        headers = headers or {}
        attempt = 0
        while True:
            try:
                return self._core.check(await self._http.request(method, path, headers=headers, **kwargs))
            except (ApiError, httpx.TransportError) as error:
                if not self._core.should_retry(attempt, method, headers, error, idempotent):
                    raise
                await self._sleep(self._core.delay(attempt, error if isinstance(error, ApiError) else None))
                attempt += 1

    async def _json(self, method: str, path: str, **kwargs) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    # --- voices -----------------------------------------------------------------
    async def create_voice(self, name: str, audio: str | Path | bytes | IO[bytes], *, language: str,
                           reference_text: str = "") -> dict:  # fmt: skip
        content = Path(audio).read_bytes() if isinstance(audio, str | Path) else audio
        data = {"name": name, "language": language, "reference_text": reference_text}
        return await self._json("POST", "/api/v1/speakers", data=data, files={"audio": ("reference", content)})

    async def get_voice(self, voice_id: str) -> dict:
        return await self._json("GET", f"/api/v1/speakers/{voice_id}")

    async def list_voices(self) -> list[dict]:
        return [voice async for voice in self._pages("/api/v1/speakers", {})]

    async def delete_voice(self, voice_id: str) -> None:
        await self._request("DELETE", f"/api/v1/speakers/{voice_id}")

    async def wait_for_voice(self, voice_id: str, *, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while (voice := await self.get_voice(voice_id))["status"] == "PROCESSING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"voice {voice_id} still PROCESSING after {timeout} s")
            await self._sleep(1.0)
        return voice

    # --- tasks ------------------------------------------------------------------
    async def create_task(self, text: str, speaker_id: str, *, language: str = "auto", priority: int = 0,
                          speed: float | None = None, output_format: str | None = None,
                          sample_rate: int | None = None, callback_url: str | None = None,
                          idempotency_key: str | None = None) -> Task:  # fmt: skip
        body = self._core.task_body(text, speaker_id, language=language, priority=priority, speed=speed,
                                    output_format=output_format, sample_rate=sample_rate,
                                    callback_url=callback_url)  # fmt: skip
        return await self._json("POST", "/api/v1/tasks", json=body, headers=self._core.idempotency(idempotency_key))

    async def get_task(self, task_id: str) -> Task:
        return await self._json("GET", f"/api/v1/tasks/{task_id}")

    async def cancel_task(self, task_id: str) -> Task:
        return await self._json("POST", f"/api/v1/tasks/{task_id}/cancel", idempotent=True)

    def list_tasks(self, *, status: str | None = None, speaker_id: str | None = None) -> AsyncIterator[Task]:
        params = {k: v for k, v in {"status": status, "speaker_id": speaker_id}.items() if v}
        return self._pages("/api/v1/tasks", params)

    async def _pages(self, path: str, params: dict) -> AsyncIterator[dict]:
        url: str | None = path
        while url:
            page = await self._json("GET", url, params=params if url == path else None)
            for item in page["results"]:
                yield item
            url = page.get("next")

    async def wait(self, task_id: str, *, timeout: float = 300.0) -> Task:
        """Live over a WebSocket, polling once a second if the socket cannot be used."""
        deadline = time.monotonic() + timeout
        try:
            task = await self._wait_socket(task_id, deadline)
            if task is not None:
                return task
        except Exception:  # noqa: S110 - any socket trouble: fall back to polling
            pass
        while (task := await self.get_task(task_id))["status"] not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} unfinished after {timeout} s")
            await self._sleep(1.0)
        return task

    async def _wait_socket(self, task_id: str, deadline: float) -> Task | None:
        from websockets.asyncio.client import connect

        ticket = await self._json("POST", "/api/v1/auth/ws-ticket", idempotent=True)
        async with connect(self._core.ws_url(task_id, ticket["ticket"]), open_timeout=10) as socket:
            while time.monotonic() < deadline:
                raw = await asyncio.wait_for(socket.recv(), timeout=max(0.1, deadline - time.monotonic()))
                message = json.loads(raw)
                if message.get("type") == "task" and message["task"]["status"] in FINISHED:
                    return await self.get_task(task_id)  # the REST state is the truth
        return None

    async def download(self, task_id: str, path: str | Path | None = None) -> bytes:
        data = (await self._request("GET", f"/api/v1/tasks/{task_id}/audio")).content
        if path is not None:
            Path(path).write_bytes(data)
        return data

    async def synthesize(self, text: str, speaker_id: str, *, timeout: float = 300.0, **options) -> bytes:
        task = await self.wait((await self.create_task(text, speaker_id, **options))["id"], timeout=timeout)
        if task["status"] != "DONE":
            raise TaskFailed(200, task.get("error") or {"code": task["status"], "message": f"task {task['status']}"})
        return await self.download(task["id"])

    # --- batches ----------------------------------------------------------------
    async def batch_synthesize(self, requests: list[dict], *, priority: int = 0, callback_url: str | None = None,
                               idempotency_key: str | None = None) -> dict:  # fmt: skip
        body: dict[str, Any] = {"requests": requests, "priority": priority}
        if callback_url:
            body["callback_url"] = callback_url
        return await self._json("POST", "/api/v1/batches", json=body, headers=self._core.idempotency(idempotency_key))

    async def get_batch(self, batch_id: str) -> dict:
        return await self._json("GET", f"/api/v1/batches/{batch_id}")
