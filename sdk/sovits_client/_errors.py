"""Exceptions carrying the service's error envelope."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A non-2xx answer. ``code`` is the stable catalogue code (see the service's docs/errors.md)."""

    def __init__(self, status: int, error: dict[str, Any], *, retry_after: float | None = None):
        self.status = status
        self.code: str = error.get("code") or f"HTTP_{status}"
        self.category: str = error.get("category") or ("SERVER" if status >= 500 else "CLIENT")
        self.message: str = error.get("message") or f"HTTP {status}"
        self.retryable: bool = bool(error.get("retryable", status in (429, 502, 503, 504)))
        self.details: dict[str, Any] = error.get("details") or {}
        self.request_id: str | None = error.get("request_id")
        self.retry_after = retry_after
        super().__init__(f"{self.code}: {self.message}")


class ValidationError(ApiError):
    pass


class AuthenticationError(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class NotFound(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class TaskFailed(ApiError):
    """A task ended FAILED (or CANCELLED); the task's own error object is carried."""


_BY_STATUS = {400: ValidationError, 401: AuthenticationError, 403: PermissionDenied, 404: NotFound, 429: RateLimited}


def error_for(status: int, body: Any, retry_after: float | None) -> ApiError:
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(status, error, retry_after=retry_after)
