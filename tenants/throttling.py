"""Requests per minute per API key and per signed-in user, at the tenant's rate.

A sliding window over Redis counters (this minute's count plus last minute's,
weighted by how much of it still lies in the window): atomic across every web
worker, and one round trip per request — the count, the previous minute and the
tenant's cached rate come back in one pipeline.
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from rest_framework.throttling import BaseThrottle

from sovits_site import redis_client
from tenants.authentication import TenantPrincipal
from tenants.models import Quota

logger = logging.getLogger(__name__)
_RATE_CACHE_SECONDS = 30
_WINDOW = 60
_redis = redis_client.shared


def _rate_key(tenant_id) -> str:
    return f"{settings.REDIS_NAMESPACE}-rate-limit:{tenant_id}"


class PrincipalRateThrottle(BaseThrottle):
    def __init__(self):
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        principal = request.auth
        tenant_id = principal.tenant.id if isinstance(principal, TenantPrincipal) else None
        now = time.time()
        window = int(now // _WINDOW)
        counter = f"{settings.REDIS_NAMESPACE}-rate:{self._ident(request)}"
        try:
            client = _redis()
            pipe = client.pipeline(transaction=False)
            pipe.incr(f"{counter}:{window}")
            pipe.expire(f"{counter}:{window}", 2 * _WINDOW)
            pipe.get(f"{counter}:{window - 1}")
            if tenant_id is not None:
                pipe.get(_rate_key(tenant_id))
            count, _, previous, *cached = pipe.execute()
            limit = int(cached[0]) if cached and cached[0] is not None else tenant_rate(tenant_id)
            weight = 1 - (now / _WINDOW - window)  # share of the previous minute still inside the window
            if int(previous or 0) * weight + count <= limit:
                return True
            client.decr(f"{counter}:{window}")  # a refused request does not use up the next one's room
        except redis.RedisError:
            # Fail open: a Redis outage must not refuse every request. Quotas (in the
            # database) still bound what any tenant can spend meanwhile.
            logger.warning("rate limiting skipped: Redis is unavailable")
            return True
        self._wait = _seconds_until_room(previous=int(previous or 0), current=count - 1, limit=limit, now=now)
        return False

    def wait(self) -> float | None:
        return self._wait

    def _ident(self, request) -> str:
        principal = request.auth
        if isinstance(principal, TenantPrincipal) and principal.api_key is not None:
            return f"key:{principal.api_key.id}"
        if request.user is not None and getattr(request.user, "pk", None) is not None:
            return f"user:{request.user.pk}"
        return f"ip:{self.get_ident(request)}"


def _seconds_until_room(*, previous: int, current: int, limit: int, now: float) -> float:
    """When one more request fits: the previous minute's weight falls as the window slides,
    and this minute's count only leaves the window with the next minute."""
    elapsed = (now % _WINDOW) / _WINDOW
    if current + 1 <= limit and previous:
        fits_at = 1 - (limit - current - 1) / previous  # the elapsed share at which the weighted count leaves room
        return max(1.0, (fits_at - elapsed) * _WINDOW)
    return max(1.0, (1 - elapsed) * _WINDOW)


def tenant_rate(tenant_id) -> int:
    """The tenant's requests per minute, kept in Redis briefly (dropped when the quota is saved: signals.py)."""
    if tenant_id is None:
        return settings.DEFAULT_QUOTAS["requests_per_minute"]
    quota = Quota.objects.filter(tenant_id=tenant_id).first()
    rate = quota.requests_per_minute if quota else settings.DEFAULT_QUOTAS["requests_per_minute"]
    _redis().set(_rate_key(tenant_id), rate, ex=_RATE_CACHE_SECONDS)
    return rate


def forget_rate(tenant_id) -> None:
    """A changed quota applies from the next request, not after the cache expires."""
    try:
        _redis().delete(_rate_key(tenant_id))
    except redis.RedisError:
        logger.warning("the cached rate of tenant %s stays until it expires: Redis is unavailable", tenant_id)
