"""Queue names, free of Django so the process launcher (deploy/stack.py) can use them.

Every region has its own copy of each queue, named ``<region>.<queue>``: a worker
started for a region consumes only those, so a tenant's jobs (and the audio they
decrypt) never run outside its region.
"""

from __future__ import annotations

SYNTHESIS, SYNTHESIS_HIGH, PROFILES, WEBHOOKS, MAINTENANCE = (
    "synthesis",
    "synthesis.high",
    "profiles",
    "webhooks",
    "maintenance",
)
ALL = (SYNTHESIS, SYNTHESIS_HIGH, PROFILES, WEBHOOKS, MAINTENANCE)


def regional(region: str, queue: str) -> str:
    return f"{region}.{queue}"


def of_regions(regions: list[str], queues: tuple[str, ...] = ALL) -> list[str]:
    """The queues a worker for ``regions`` consumes."""
    return [regional(region, queue) for region in regions for queue in queues]
