"""Queue names, free of Django so the process launcher (deploy/stack.py) can use them.

Every region has its own copy of each queue, named ``<region>.<queue>``: a worker
started for a region consumes only those, so a tenant's jobs (and the audio they
decrypt) never run outside its region. Synthesis and profiling queues are also per
engine (``<region>.<engine>.synthesis``): a worker consumes only those of the
engines it runs (WORKER_ENGINES), so a voice's work reaches only workers that can
speak it.
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
PER_ENGINE = (SYNTHESIS, SYNTHESIS_HIGH, PROFILES)
# Every engine the code knows; a deployment serves some of them (SYNTHESIS_ENGINES).
ENGINES = ("embedded", "gpt-sovits")


def regional(region: str, queue: str) -> str:
    return f"{region}.{queue}"


def for_engine(queue: str, engine: str) -> str:
    return f"{engine}.{queue}" if queue in PER_ENGINE else queue


def of_regions(regions: list[str], engines: list[str] | tuple[str, ...], queues: tuple[str, ...] = ALL) -> list[str]:
    """The queues a worker for ``regions`` and ``engines`` consumes."""
    names = []
    for region in regions:
        for queue in queues:
            for engine in engines if queue in PER_ENGINE else ("",):
                names.append(regional(region, for_engine(queue, engine)))
    return names
