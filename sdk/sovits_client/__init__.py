"""Typed Python client for the voice platform API: ``Client`` (blocking) and ``AsyncClient`` (asyncio)."""

from sovits_client._async_client import AsyncClient
from sovits_client._client import Client
from sovits_client._core import AudioInput
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
from sovits_client._models import (
    Batch,
    BatchRequest,
    BatchStatus,
    ErrorBody,
    Language,
    OutputFormat,
    Page,
    Speaker,
    SpeakerStatus,
    Task,
    TaskParams,
    TaskStatus,
)
from sovits_client._version import __version__

__all__ = [
    "ApiError",
    "AsyncClient",
    "AudioInput",
    "AuthenticationError",
    "Batch",
    "BatchRequest",
    "BatchStatus",
    "Client",
    "ErrorBody",
    "Language",
    "NotFound",
    "OutputFormat",
    "Page",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "Speaker",
    "SpeakerStatus",
    "Task",
    "TaskFailed",
    "TaskParams",
    "TaskStatus",
    "ValidationError",
    "__version__",
]
