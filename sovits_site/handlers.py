"""Error handlers for requests that never reach a DRF view (unknown URLs, crashes in middleware).

API paths answer in the JSON envelope; other paths get the app's own 403 and 404 pages
(with the top bar of whoever is signed in), and Django's plain ones for 400 and 500.
"""

from django.conf import settings
from django.shortcuts import render
from django.views import defaults

from sovits_site.errors import error_response


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/v1/", "/tts"))


def bad_request(request, exception=None):
    return (
        error_response(request, "MALFORMED_REQUEST") if _is_api(request) else defaults.bad_request(request, exception)
    )


def _page(request, template: str, status: int, **context):
    from synthesis.pages import shell_context  # the pages import the engines: load them only here

    return render(request, template, {**shell_context(request), "status": status, **context}, status=status)


def permission_denied(request, exception=None):
    if _is_api(request):
        return error_response(request, "PERMISSION_DENIED")
    # Our PermissionDenied messages are written for people; Django's own (CSRF) are not raised here.
    reason = str(exception) if exception is not None and str(exception) else ""
    return _page(request, "403.html", 403, reason=reason)


def not_found(request, exception=None):
    return error_response(request, "NOT_FOUND") if _is_api(request) else _page(request, "404.html", 404)


def server_error(request):
    return error_response(request, "INTERNAL_ERROR") if _is_api(request) else defaults.server_error(request)


def login_locked_out(request, credentials, *args, **kwargs):
    """django-axes' answer once an account is locked out: 429 (the envelope on API paths)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if _is_api(request):
        response = error_response(request, "RATE_LIMITED", "Too many failed logins; try again later")
    else:
        reason = f"Too many failed sign-ins for this account from your address: try again in {minutes} minutes."
        response = _page(request, "403.html", 429, reason=reason, heading="Signing in is paused")
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
