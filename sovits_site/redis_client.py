"""The process's one synchronous Redis client for the service's own keys (rate limits, live
audio), apart from Dramatiq's and Channels' own connections."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def shared() -> redis.Redis:
    """One client per process: its pool is thread-safe and reconnects after a fork by itself.
    Short timeouts: callers treat Redis as best effort and must not hang on it."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
