"""The asynchronous client: ``Client``'s methods, awaited, on ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from sovits_client._core import POLL_INTERVAL, AudioInput, Core, seg
from sovits_client._errors import ApiError, TaskFailed
from sovits_client._models import FINISHED, Batch, BatchRequest, Language, OutputFormat, Page, Speaker, Task


class AsyncClient:
    """The voice platform API for asyncio; see ``Client`` for what each method does and why.

    ``async with AsyncClient(url, key) as api: audio = await api.synthesize("Hi.", voice_id)``
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._core = Core(base_url, api_key, max_retries=max_retries)
        self._sleep = sleep
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self._core.base_url, headers=self._core.headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, retry_safe: bool = True, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                return self._core.check(await self._http.request(method, path, **kwargs))
            except (ApiError, httpx.TransportError) as error:
                delay = self._core.retry_delay(attempt, error, retry_safe=retry_safe)
                if delay is None:
                    raise
            await self._sleep(delay)
            attempt += 1

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    async def _pages(self, path: str, params: dict[str, str]) -> AsyncIterator[Any]:
        url: str | None = path
        while url:
            page: Page[Any] = await self._json("GET", url, params=params if url == path else None)
            for item in page["results"]:
                yield item
            url = page.get("next")

    # --- voices -------------------------------------------------------------------------------------------

    async def create_voice(
        self,
        name: str,
        audio: AudioInput,
        *,
        language: Language,
        reference_text: str = "",
        engine: str | None = None,
        model_id: str | None = None,
    ) -> Speaker:
        form = self._core.voice_form(name, language, reference_text, engine, model_id)
        files = {"audio": self._core.audio_file(audio)}
        return await self._json("POST", "/api/v1/speakers", data=form, files=files, retry_safe=False)

    async def list_models(self) -> list[dict]:
        return await self._json("GET", "/api/v1/models")

    async def get_voice(self, voice_id: str) -> Speaker:
        return await self._json("GET", f"/api/v1/speakers/{seg(voice_id)}")

    async def list_voices(self) -> list[Speaker]:
        return [voice async for voice in self._pages("/api/v1/speakers", {})]

    async def delete_voice(self, voice_id: str) -> None:
        await self._request("DELETE", f"/api/v1/speakers/{seg(voice_id)}")

    async def wait_for_voice(self, voice_id: str, timeout: float = 120.0) -> Speaker:
        deadline = time.monotonic() + timeout
        while (voice := await self.get_voice(voice_id))["status"] == "PROCESSING":
            if time.monotonic() >= deadline:
                raise TimeoutError(f"voice {voice_id} still PROCESSING after {timeout} s")
            await self._sleep(POLL_INTERVAL)
        return voice

    # --- tasks --------------------------------------------------------------------------------------------

    async def create_task(
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
        headers = self._core.idempotency(idempotency_key)
        return await self._json("POST", "/api/v1/tasks", json=body, headers=headers)

    async def get_task(self, task_id: str) -> Task:
        return await self._json("GET", f"/api/v1/tasks/{seg(task_id)}")

    async def cancel_task(self, task_id: str) -> Task:
        return await self._json("POST", f"/api/v1/tasks/{seg(task_id)}/cancel")

    def list_tasks(self, status: str | None = None, speaker_id: str | None = None) -> AsyncIterator[Task]:
        """``async for task in api.list_tasks(status="DONE")``: pages are fetched as the loop goes."""
        return self._pages("/api/v1/tasks", self._core.list_params(status, speaker_id))

    async def wait(self, task_id: str, *, timeout: float = 300.0) -> Task:
        """Until DONE, FAILED or CANCELLED: over a WebSocket, else polling once a second (see ``Client.wait``)."""
        deadline = time.monotonic() + timeout
        try:
            return await self._wait_socket(task_id, deadline)
        except Exception:  # noqa: S110 - any socket trouble at all: polling below is the fallback by design
            pass
        while (task := await self.get_task(task_id))["status"] not in FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"task {task_id} still {task['status']} after {timeout} s")
            await self._sleep(min(POLL_INTERVAL, remaining))
        return task

    async def _wait_socket(self, task_id: str, deadline: float) -> Task:
        from websockets.asyncio.client import connect

        ticket = (await self._json("POST", "/api/v1/auth/ws-ticket"))["ticket"]
        open_timeout = min(self._timeout, max(0.1, deadline - time.monotonic()))
        async with connect(self._core.ws_url(task_id, ticket), open_timeout=open_timeout) as socket:
            while True:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    message = json.loads(await socket.recv())
                if message.get("type") == "task" and message["task"]["status"] in FINISHED:
                    return await self.get_task(task_id)  # authoritative, with a signed result_url

    async def download(self, task_id: str, path: str | Path | None = None) -> bytes:
        data = (await self._request("GET", f"/api/v1/tasks/{seg(task_id)}/audio")).content
        if path is not None:
            await asyncio.to_thread(Path(path).write_bytes, data)
        return data

    async def synthesize(self, text: str, speaker_id: str, *, timeout: float = 300.0, **options: Any) -> bytes:
        task = await self.wait((await self.create_task(text, speaker_id, **options))["id"], timeout=timeout)
        if task["status"] != "DONE":
            raise TaskFailed(task)
        return await self.download(task["id"])

    # --- batches ------------------------------------------------------------------------------------------

    async def batch_synthesize(
        self,
        requests: list[BatchRequest] | list[dict[str, Any]],
        *,
        priority: int = 0,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        body = self._core.batch_body(requests, priority, callback_url)
        headers = self._core.idempotency(idempotency_key)
        return await self._json("POST", "/api/v1/batches", json=body, headers=headers)

    async def get_batch(self, batch_id: str) -> Batch:
        return await self._json("GET", f"/api/v1/batches/{seg(batch_id)}")


def _loop_time(deadline: float) -> float:
    """A ``time.monotonic()`` deadline on the event loop's clock, which ``asyncio.timeout_at`` expects."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
