"""Error handlers for requests that never reach a DRF view (unknown URLs, crashes in middleware).

API paths answer in the JSON envelope; other paths get Django's plain pages.
"""

from django.conf import settings
from django.views import defaults

from sovits_site.errors import error_response


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/v1/", "/tts"))


def bad_request(request, exception=None):
    return (
        error_response(request, "MALFORMED_REQUEST") if _is_api(request) else defaults.bad_request(request, exception)
    )


def permission_denied(request, exception=None):
    if _is_api(request):
        return error_response(request, "PERMISSION_DENIED")
    return defaults.permission_denied(request, exception)


def not_found(request, exception=None):
    return error_response(request, "NOT_FOUND") if _is_api(request) else defaults.page_not_found(request, exception)


def server_error(request):
    return error_response(request, "INTERNAL_ERROR") if _is_api(request) else defaults.server_error(request)


def login_locked_out(request, credentials, *args, **kwargs):
    """django-axes' answer once an account is locked out: 429 (the envelope on API paths)."""
    if _is_api(request):
        response = error_response(request, "RATE_LIMITED", "Too many failed logins; try again later")
    else:
        response = defaults.permission_denied(request, None)
        response.status_code = 429
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
