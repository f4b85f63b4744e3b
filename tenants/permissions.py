from __future__ import annotations

from rest_framework.permissions import BasePermission

from sovits_site.errors import ApiError
from tenants.authentication import TenantPrincipal
from tenants.models import Role


class IsTenantMember(BasePermission):
    """Lets in any authenticated tenant principal, and sets ``request.tenant`` from it."""

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, TenantPrincipal):
            return False
        request.tenant = principal.tenant
        request.principal = principal
        return True


class IsTenantAdmin(IsTenantMember):
    """Owners and admins, or API keys with the ``admin`` scope, manage keys and secrets."""

    message = "Only the tenant's owners and admins may do this"

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        principal = request.principal
        if principal.api_key is not None:
            return _key_has_scope(principal.api_key, "admin")
        return principal.role in (Role.OWNER, Role.ADMIN)


class HasScope(BasePermission):
    """API keys act only within their scopes: GETs need ``read``; other methods the
    view's ``scopes`` entry for the method (``synthesize``, ``voices:write``,
    ``admin``), and ``admin`` where a view names none. People act by role instead."""

    message = "This API key lacks the scope for this request"

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, TenantPrincipal) or principal.api_key is None:
            return True
        return _key_has_scope(principal.api_key, required_scope(request.method, view))


def _key_has_scope(api_key, scope: str) -> bool:
    """True, or a 403 that names the missing scope, so the caller knows which key to ask for."""
    if scope in api_key.scopes:
        return True
    raise ApiError(
        "PERMISSION_DENIED",
        f"This API key lacks the {scope!r} scope needed here; an owner or admin can issue a key with it",
        details={"required_scope": scope, "key_scopes": list(api_key.scopes)},
    )


def required_scope(method: str, view) -> str:
    scopes = getattr(view, "scopes", {})
    if not hasattr(view, method.lower()):
        return "read"  # the view will answer 405; say so rather than 403
    if method in scopes:
        return scopes[method]
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "admin"
