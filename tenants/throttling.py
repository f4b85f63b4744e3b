from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from tenants.authentication import TenantPrincipal


class PrincipalRateThrottle(SimpleRateThrottle):
    """Requests per period for each API key and each signed-in user, counted in
    the shared (Redis) cache so every web worker sees the same count."""

    scope = "principal"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view) -> str | None:
        principal = request.auth
        if isinstance(principal, TenantPrincipal) and principal.api_key is not None:
            ident = f"key:{principal.api_key.id}"
        elif request.user is not None and getattr(request.user, "pk", None) is not None:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
