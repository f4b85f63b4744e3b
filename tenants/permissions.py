from __future__ import annotations

from rest_framework.permissions import BasePermission

from tenants.authentication import TenantPrincipal


class IsTenantMember(BasePermission):
    """Lets in any authenticated tenant principal, and sets ``request.tenant`` from it."""

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, TenantPrincipal):
            return False
        request.tenant = principal.tenant
        request.principal = principal
        return True
