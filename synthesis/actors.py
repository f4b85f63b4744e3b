"""Dramatiq actors: thin adapters that load by id and call a service."""

from __future__ import annotations

import dramatiq
from django.conf import settings

from synthesis.services.speakers import speaker_profile_extract
from synthesis.services.tasks import task_run


@dramatiq.actor(queue_name="synthesis", max_retries=3, time_limit=settings.SYNTHESIS_TIME_LIMIT_SECONDS * 1000)
def synthesize_task(task_id: str) -> None:
    task_run(task_id=task_id)


@dramatiq.actor(queue_name="synthesis", max_retries=3, time_limit=settings.SYNTHESIS_TIME_LIMIT_SECONDS * 1000)
def extract_profile(speaker_id: str) -> None:
    speaker_profile_extract(speaker_id=speaker_id)
