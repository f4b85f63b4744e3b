"""The API's error catalogue and its envelope.

Every non-2xx answer of the API is ``{"error": {code, category, message,
retryable, details, request_id}}``. Codes are stable: clients branch on them,
so add new ones rather than changing what an existing one means. The table in
``docs/errors.md`` documents each; a test keeps the two in step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from synthesis.object_stores import StoreUnavailable

logger = logging.getLogger(__name__)

CLIENT, SERVER, SYSTEM = "CLIENT", "SERVER", "SYSTEM"
BROKER_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    category: str
    retryable: bool
    message: str


def _catalogue(*codes: ErrorCode) -> dict[str, ErrorCode]:
    return {c.code: c for c in codes}


CATALOGUE = _catalogue(
    ErrorCode("VALIDATION_ERROR", 400, CLIENT, False, "The request is invalid"),
    ErrorCode("MALFORMED_REQUEST", 400, CLIENT, False, "The request body could not be parsed"),
    ErrorCode("INVALID_AUDIO", 400, CLIENT, False, "The file is not audio that can be decoded"),
    ErrorCode("AUDIO_TOO_SHORT", 400, CLIENT, False, "The reference audio is too short"),
    ErrorCode("AUDIO_TOO_LONG", 400, CLIENT, False, "The reference audio is too long"),
    ErrorCode("AUDIO_SILENT", 400, CLIENT, False, "The reference audio holds too little speech"),
    ErrorCode("AUDIO_CLIPPED", 400, CLIENT, False, "The reference audio is clipped (distorted)"),
    ErrorCode("AUDIO_NO_SPEECH", 400, CLIENT, False, "The reference audio holds no speech"),
    ErrorCode("UNSUPPORTED_LANGUAGE", 400, CLIENT, False, "The language is not supported"),
    ErrorCode("LANGUAGE_MISMATCH", 400, CLIENT, False, "The text is written in a script the language cannot speak"),
    ErrorCode("TEXT_TOO_LONG", 400, CLIENT, False, "The text is longer than a task allows"),
    ErrorCode("UNSUPPORTED_ENGINE", 400, CLIENT, False, "This deployment does not serve that engine"),
    ErrorCode("MODEL_INVALID", 400, CLIENT, False, "The file is not a usable GPT-SoVITS checkpoint"),
    ErrorCode("UNSUPPORTED_MODEL_VERSION", 400, CLIENT, False, "The model's GPT-SoVITS version is not supported"),
    ErrorCode("INVALID_CALLBACK_URL", 400, CLIENT, False, "The callback URL is not allowed"),
    ErrorCode("NOT_AUTHENTICATED", 401, CLIENT, False, "Authentication credentials were not provided"),
    ErrorCode("AUTHENTICATION_FAILED", 401, CLIENT, False, "The credentials are invalid"),
    ErrorCode("TOKEN_EXPIRED", 401, CLIENT, False, "The access token has expired; refresh it"),
    ErrorCode("PERMISSION_DENIED", 403, CLIENT, False, "You may not perform this action"),
    ErrorCode("DPA_NOT_ACCEPTED", 403, CLIENT, False, "The tenant's owner must accept the current DPA first"),
    ErrorCode("NOT_FOUND", 404, CLIENT, False, "Not found"),
    ErrorCode("METHOD_NOT_ALLOWED", 405, CLIENT, False, "Method not allowed"),
    ErrorCode("NOT_ACCEPTABLE", 406, CLIENT, False, "The requested representation is not available"),
    ErrorCode("TASK_NOT_DONE", 409, CLIENT, True, "The task has not finished"),
    ErrorCode("TASK_FAILED", 409, CLIENT, False, "The task failed and has no audio"),
    ErrorCode("TASK_CANCELLED", 409, CLIENT, False, "The task was cancelled and has no audio"),
    ErrorCode("VOICE_NOT_READY", 409, CLIENT, True, "The voice is not ready for synthesis"),
    ErrorCode("MODEL_NOT_READY", 409, CLIENT, True, "The model is not ready for use"),
    ErrorCode("CONFLICT", 409, CLIENT, False, "The request conflicts with the current state"),
    ErrorCode("VOICE_NAME_TAKEN", 409, CLIENT, False, "A voice of yours already has this name"),
    ErrorCode("IDEMPOTENCY_CONFLICT", 409, CLIENT, False, "The Idempotency-Key was used with another request"),
    ErrorCode("LINK_EXPIRED", 410, CLIENT, False, "The signed link has expired"),
    ErrorCode("PAYLOAD_TOO_LARGE", 413, CLIENT, False, "The request body is too large"),
    ErrorCode("UNSUPPORTED_MEDIA_TYPE", 415, CLIENT, False, "The content type is not supported"),
    ErrorCode("RANGE_NOT_SATISFIABLE", 416, CLIENT, False, "The requested byte range is outside the file"),
    ErrorCode("RATE_LIMITED", 429, CLIENT, True, "Too many requests"),
    ErrorCode("QUOTA_EXCEEDED", 429, CLIENT, True, "A quota is exhausted"),
    ErrorCode("INTERNAL_ERROR", 500, SERVER, True, "An internal error occurred"),
    ErrorCode("ENGINE_ERROR", 500, SERVER, True, "The synthesis engine failed"),
    ErrorCode("MODEL_LOAD_FAILED", 503, SYSTEM, True, "A worker could not load the voice's model"),
    ErrorCode("MODEL_TOO_LARGE", 507, SYSTEM, False, "The model does not fit the workers' model memory"),
    ErrorCode("SERVICE_UNAVAILABLE", 503, SYSTEM, True, "A backing service is unavailable"),
    ErrorCode("BROKER_UNAVAILABLE", 503, SYSTEM, True, "The message broker (Redis) is unavailable"),
    ErrorCode("STORAGE_UNAVAILABLE", 503, SYSTEM, True, "The object store is unavailable"),
    ErrorCode("WORKER_LOST", 503, SYSTEM, True, "The workers running this task stopped before it finished"),
    ErrorCode("SYNTHESIS_TIMEOUT", 504, SYSTEM, True, "The synthesis did not finish in time"),
)


class ApiError(Exception):
    """Raise anywhere below a view to answer with the envelope for ``code``."""

    def __init__(self, code: str, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.error = CATALOGUE[code]
        self.message = message or self.error.message
        self.details = details or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        """The stored form of a failure (a task's ``error``), without a request id."""
        return {
            "code": self.error.code,
            "category": self.error.category,
            "message": self.message,
            "retryable": self.error.retryable,
            "details": self.details,
        }


def envelope(
    code: str, message: str | None = None, *, details: dict | None = None, request_id: str | None = None
) -> dict:
    body = ApiError(code, message, details=details).as_dict()
    body["request_id"] = request_id
    return {"error": body}


def error_response(request, code: str, message: str | None = None, *, details: dict | None = None) -> JsonResponse:
    """The envelope as a plain Django response, for code outside DRF (middleware, handlers)."""
    return JsonResponse(
        envelope(code, message, details=details, request_id=getattr(request, "request_id", None)),
        status=CATALOGUE[code].status,
    )


class TokenExpired(drf.AuthenticationFailed):
    """An access token past its expiry: the client should refresh it (not sign in again)."""

    default_detail = "The access token has expired; refresh it with POST /api/v1/auth/token/refresh"
    default_code = "token_expired"


def _plain(detail: Any) -> str:
    """DRF details (and simplejwt's nested ones) as words, never a repr of ErrorDetail objects."""
    if isinstance(detail, dict):
        if "detail" in detail:
            return _plain(detail["detail"])
        return "; ".join(f"{key}: {_plain(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_plain(item) for item in detail)
    return str(detail)


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.ParseError, "MALFORMED_REQUEST"),
    (drf.NotAuthenticated, "NOT_AUTHENTICATED"),
    (TokenExpired, "TOKEN_EXPIRED"),
    (drf.AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (drf.PermissionDenied, "PERMISSION_DENIED"),
    (drf.NotFound, "NOT_FOUND"),
    (Http404, "NOT_FOUND"),
    (drf.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (drf.NotAcceptable, "NOT_ACCEPTABLE"),
    (drf.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (drf.Throttled, "RATE_LIMITED"),
    (drf.ValidationError, "VALIDATION_ERROR"),
]


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception a view raises becomes the envelope."""
    request = context.get("request")
    request_id = getattr(request, "request_id", None)
    headers: dict[str, str] = {}
    if isinstance(exc, redis.RedisError):  # Redis down: say so, never a 500
        logger.warning("Redis unavailable during %s", getattr(request, "path", "?"), exc_info=exc)
        exc = ApiError("BROKER_UNAVAILABLE", details={"retry_after": BROKER_RETRY_AFTER_SECONDS})
    elif isinstance(exc, StoreUnavailable):  # the object store down: say so, never a 500
        logger.warning("object store unavailable during %s", getattr(request, "path", "?"), exc_info=exc)
        exc = ApiError("STORAGE_UNAVAILABLE", details={"retry_after": BROKER_RETRY_AFTER_SECONDS})
    if isinstance(exc, ApiError):
        body = exc.as_dict()
        status = exc.error.status
        link = body["details"].get("url")
        if request is not None and isinstance(link, str) and link.startswith("/"):
            body["details"] = {**body["details"], "url": request.build_absolute_uri(link)}  # a link to follow
        if "retry_after" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after"])
    else:
        code = next((c for kind, c in _DRF_CODES if isinstance(exc, kind)), None)
        if code is None:
            logger.exception("Unhandled error in API view", exc_info=exc)
            code = "INTERNAL_ERROR"
        details: dict[str, Any] = {}
        message = None
        if isinstance(exc, drf.ValidationError):
            details = {"fields": exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}}
        elif isinstance(exc, drf.APIException):
            message = _plain(exc.detail)
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            details["retry_after"] = int(exc.wait)
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            headers["WWW-Authenticate"] = 'Api-Key, Bearer realm="api"'
        body = ApiError(code, message, details=details).as_dict()
        status = CATALOGUE[code].status
    body["request_id"] = request_id
    return Response({"error": body}, status=status, headers=headers)
