"""What the sync and async clients share: request building, the retry policy, and envelope checking.

Everything here is free of I/O, so the two clients differ only in how they send, sleep and read sockets,
and the policy cannot drift between them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from sovits_client._errors import ApiError, RateLimited, error_from_response
from sovits_client._models import BatchRequest
from sovits_client._version import __version__

AudioInput = str | PathLike[str] | bytes | IO[bytes]
"""A reference recording: a path to read, the bytes themselves, or an open binary file."""

POLL_INTERVAL = 1.0
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Failures where the request never reached the service, so repeating it cannot duplicate anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def seg(value: object) -> str:
    """One path segment; ids are UUIDs, but quoting keeps a stray "/" or "?" from changing the route."""
    return quote(str(value), safe="")


class Core:
    """Configuration and decisions common to ``Client`` and ``AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {
            "X-API-Key": api_key,
            # The audio endpoint is negotiated too; JSON is what every endpoint (errors included) can render.
            "Accept": "application/json",
            "User-Agent": f"sovits-client/{__version__}",
        }
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._jitter = jitter

    # --- retries ------------------------------------------------------------------------------------------

    def retry_delay(self, attempt: int, error: Exception, *, retry_safe: bool) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``, or None to give up and raise ``error``.

        ``retry_safe`` says whether repeating the request is harmless: true for reads, deletes, cancels and
        creates carrying an Idempotency-Key. Other requests are still retried when the service provably did
        not act on them: the connection never opened, or the answer was 429 (throttled before any work).
        """
        if attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimited):
            return error.retry_after if error.retry_after is not None else self.backoff(attempt)
        if isinstance(error, _NOT_SENT):
            return self.backoff(attempt)
        if not retry_safe:
            return None
        if isinstance(error, httpx.TransportError):
            return self.backoff(attempt)
        if isinstance(error, ApiError) and (error.retryable or error.status in _RETRY_STATUSES):
            return self.backoff(attempt)
        return None

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: spreads out clients that failed together."""
        return self._jitter(0.0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    @staticmethod
    def check(response: httpx.Response) -> httpx.Response:
        if not response.is_success:
            raise error_from_response(response)
        return response

    # --- request bodies -----------------------------------------------------------------------------------

    @staticmethod
    def idempotency(key: str | None) -> dict[str, str]:
        # Without a key from the caller, make one: the same key goes out on every retry of this call,
        # so a retry after a lost answer gets the first task back instead of queueing a second.
        return {"Idempotency-Key": key or str(uuid.uuid4())}

    @staticmethod
    def task_body(
        text: str,
        speaker_id: str,
        *,
        language: str,
        priority: int,
        speed: float | None,
        output_format: str | None,
        sample_rate: int | None,
        callback_url: str | None,
    ) -> dict[str, Any]:
        # Unset options are left out, so the service's defaults apply rather than ours.
        body: dict[str, Any] = {"text": text, "speaker_id": str(speaker_id), "language": language, "priority": priority}
        optional = {"output_format": output_format, "sample_rate": sample_rate, "callback_url": callback_url}
        body.update({key: value for key, value in optional.items() if value is not None})
        if speed is not None:
            body["params"] = {"speed": speed}
        return body

    @staticmethod
    def batch_body(
        requests: list[BatchRequest] | list[dict[str, Any]], priority: int, callback_url: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"requests": list(requests), "priority": priority}
        if callback_url is not None:
            body["callback_url"] = callback_url
        return body

    @staticmethod
    def voice_form(
        name: str, language: str, reference_text: str, engine: str | None = None, model_id: str | None = None
    ) -> dict[str, str]:
        form = {"name": name, "language": language, "reference_text": reference_text}
        return form | {key: value for key, value in (("engine", engine), ("model_id", model_id)) if value}

    @staticmethod
    def audio_file(audio: AudioInput) -> tuple[str, bytes]:
        """The multipart ``(filename, content)``, read into memory (references are short) so a retry can
        resend it; the real file name is kept, as the service records it."""
        if isinstance(audio, bytes):
            return "reference", audio
        if isinstance(audio, str | PathLike):
            path = Path(audio)
            return path.name, path.read_bytes()
        name = getattr(audio, "name", None)
        return (Path(name).name if isinstance(name, str) else "reference"), audio.read()

    @staticmethod
    def list_params(status: str | None, speaker_id: str | None) -> dict[str, str]:
        return {key: str(value) for key, value in {"status": status, "speaker_id": speaker_id}.items() if value}

    def ws_url(self, task_id: str, ticket: str) -> str:
        """``ws[s]://host[/prefix]/ws/tasks/{id}/?ticket=…``: the scheme follows the REST base URL's."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/ws/tasks/{seg(task_id)}/"
        return urlunsplit((scheme, parts.netloc, path, f"ticket={quote(ticket, safe='')}", ""))
