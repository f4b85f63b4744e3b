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
    """Owners and admins (people, not API keys) manage the tenant's keys."""

    message = "Only the tenant's owners and admins may do this"

    def has_permission(self, request, view) -> bool:
        return (
            super().has_permission(request, view)
            and request.principal.api_key is None
            and request.principal.role in (Role.OWNER, Role.ADMIN)
        )
