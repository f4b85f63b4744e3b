"""What the sync and async clients share: URLs, retry policy, envelope parsing."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from sovits_client._errors import ApiError, error_for

FINISHED = ("DONE", "FAILED", "CANCELLED")
_RETRY_STATUSES = (429, 502, 503, 504)


class Core:
    def __init__(self, base_url: str, api_key: str, *, max_retries: int = 3, backoff_base: float = 0.5,
                 backoff_cap: float = 20.0):  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.headers = {"X-API-Key": api_key, "Accept": "application/json", "User-Agent": "sovits-client/0.1"}
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    def delay(self, attempt: int, error: ApiError | None) -> float:
        """Retry-After when the server gives one, else exponential backoff with full jitter."""
        if error is not None and error.retry_after is not None:
            return error.retry_after
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))  # noqa: S311

    def should_retry(self, attempt: int, method: str, headers: Mapping[str, str], error: Exception,
                     idempotent: bool = False) -> bool:  # fmt: skip
        """Retry what is safe to repeat: reads, idempotent writes, and creates carrying an Idempotency-Key."""
        if attempt >= self.max_retries:
            return False
        if method == "POST" and not idempotent and "Idempotency-Key" not in headers:
            return False
        if isinstance(error, httpx.TransportError):
            return True
        return isinstance(error, ApiError) and (error.retryable or error.status in _RETRY_STATUSES)

    @staticmethod
    def check(response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        retry_after = response.headers.get("Retry-After")
        raise error_for(response.status_code, body, float(retry_after) if retry_after else None)

    @staticmethod
    def idempotency(key: str | None) -> dict[str, str]:
        # Creating is retried only with a key; without one from the caller, make one, so a
        # retry after a lost answer returns the same task instead of queueing it twice.
        return {"Idempotency-Key": key or str(uuid.uuid4())}

    @staticmethod
    def task_body(text: str, speaker_id: str, *, language: str, priority: int, speed: float | None,
                  output_format: str | None, sample_rate: int | None, callback_url: str | None) -> dict:  # fmt: skip
        body: dict[str, Any] = {"text": text, "speaker_id": str(speaker_id), "language": language, "priority": priority}
        if speed is not None:
            body["params"] = {"speed": speed}
        if output_format:
            body["output_format"] = output_format
        if sample_rate:
            body["sample_rate"] = sample_rate
        if callback_url:
            body["callback_url"] = callback_url
        return body

    def ws_url(self, task_id: str, ticket: str) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        return f"{scheme}://{self.base_url.split('://', 1)[1]}/ws/tasks/{task_id}/?ticket={ticket}"
