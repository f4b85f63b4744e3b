from __future__ import annotations

from rest_framework.permissions import BasePermission

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
            return "admin" in principal.api_key.scopes
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
        return required_scope(request.method, view) in principal.api_key.scopes


def required_scope(method: str, view) -> str:
    scopes = getattr(view, "scopes", {})
    if not hasattr(view, method.lower()):
        return "read"  # the view will answer 405; say so rather than 403
    if method in scopes:
        return scopes[method]
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "admin"
