from __future__ import annotations

import logging

import redis
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from tenants.authentication import TenantPrincipal
from tenants.models import Quota

logger = logging.getLogger(__name__)
_RATE_CACHE_SECONDS = 30


class PrincipalRateThrottle(SimpleRateThrottle):
    """Requests per minute for each API key and each signed-in user, at the rate the
    tenant's quota sets, counted in the shared (Redis) cache so every web worker
    sees the same count."""

    scope = "principal"
    rate = "600/min"  # replaced per request by the tenant's own rate

    def allow_request(self, request, view) -> bool:
        principal = request.auth
        try:
            if isinstance(principal, TenantPrincipal):
                self.num_requests, self.duration = tenant_rate(principal.tenant.id), 60
            return super().allow_request(request, view)
        except redis.RedisError:
            # Fail open: a Redis outage must not refuse every request. Quotas (in the
            # database) still bound what any tenant can spend meanwhile.
            logger.warning("rate limiting skipped: Redis is unavailable")
            return True

    def get_cache_key(self, request, view) -> str | None:
        principal = request.auth
        if isinstance(principal, TenantPrincipal) and principal.api_key is not None:
            ident = f"key:{principal.api_key.id}"
        elif request.user is not None and getattr(request.user, "pk", None) is not None:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def tenant_rate(tenant_id) -> int:
    """The tenant's requests per minute, cached briefly: it is read on every request."""
    key = f"rate-limit:{tenant_id}"
    rate = cache.get(key)
    if rate is None:
        quota = Quota.objects.filter(tenant_id=tenant_id).first()
        from django.conf import settings

        rate = quota.requests_per_minute if quota else settings.DEFAULT_QUOTAS["requests_per_minute"]
        cache.set(key, rate, _RATE_CACHE_SECONDS)
    return rate
