"""Python client for the voice platform API."""

from sovits_client._async_client import AsyncClient
from sovits_client._client import Client
from sovits_client._errors import (
    ApiError,
    AuthenticationError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TaskFailed,
    ValidationError,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "TaskFailed",
    "ValidationError",
]
