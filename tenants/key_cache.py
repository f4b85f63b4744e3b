"""This process's copies of recently used API keys.

Every API call authenticates; a busy client would otherwise cost one database
lookup per request. A key is trusted for API_KEY_CACHE_SECONDS after its lookup,
so a revocation reaches every web worker within that interval (at once in the
process that revoked it).
"""

from __future__ import annotations

import time

from django.conf import settings

from tenants.models import ApiKey

_SIZE = 10_000
# digest -> (monotonic time the entry stops being trusted, the key with its tenant)
_keys: dict[str, tuple[float, ApiKey]] = {}


def active_key(digest: str) -> ApiKey | None:
    """The unrevoked key with this digest, and its tenant."""
    now = time.monotonic()
    cached = _keys.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    api_key = ApiKey.objects.select_related("tenant").filter(digest=digest, revoked_at__isnull=True).first()
    if api_key is None:
        _keys.pop(digest, None)
    elif settings.API_KEY_CACHE_SECONDS > 0:
        if len(_keys) >= _SIZE:
            _keys.clear()
        _keys[digest] = (now + settings.API_KEY_CACHE_SECONDS, api_key)
    return api_key


def forget(digest: str) -> None:
    """Stop trusting this process's copy of the key (it was revoked, or its tenant erased)."""
    _keys.pop(digest, None)
