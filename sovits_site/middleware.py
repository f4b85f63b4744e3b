from __future__ import annotations

import ipaddress
import re
import uuid

from sovits_site.errors import error_response
from sovits_site.uploads import body_limit, file_limit

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class DrainRequestBodyMiddleware:
    """Reads whatever of the request body a refusal left unread, before answering.

    gunicorn's sync workers close the connection as soon as the response is sent;
    a proxy still sending the body then sees a broken pipe and answers 502 instead
    of our 401, 403 or 413. Caddy caps bodies at MAX_REQUEST_BYTES, so this is
    bounded, and it costs nothing once a view has read the body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            while request.read(256 * 1024):
                pass
        except OSError:  # the client has gone: nothing to protect
            pass
        return response


class RequestIdMiddleware:
    """Tags each request with an id (the caller's ``X-Request-ID`` if sane) for logs and error envelopes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class UploadSizeLimitMiddleware:
    """Refuses an API body larger than the upload cap before any of it is read.

    Django only caps non-file form data; without this a multi-gigabyte upload
    would be streamed to a temporary file before a view could say no.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(request, "MALFORMED_REQUEST", "Content-Length is not a number")
        if length > body_limit(request):
            return error_response(request, "PAYLOAD_TOO_LARGE", details={"max_bytes": file_limit(request)})
        return self.get_response(request)


def client_ip(request) -> str | None:
    """The caller's address. Behind our Caddy front the socket peer is the proxy, and
    Caddy (trusting no proxy before it) sets X-Forwarded-For to the real peer alone."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    candidate = forwarded.split(",")[-1].strip() if forwarded else request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
