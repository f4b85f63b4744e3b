from __future__ import annotations

import uuid

from django.db import models
from django_cryptography.fields import encrypt

from tenants.models import Tenant


class SpeakerStatus(models.TextChoices):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class Speaker(models.Model):
    """A voice: a tenant's reference recording and what is known about it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="speakers")
    name = models.CharField(max_length=100)
    language = models.CharField(max_length=8)
    reference_text = encrypt(models.TextField(blank=True))
    status = models.CharField(max_length=16, choices=SpeakerStatus.choices, default=SpeakerStatus.PROCESSING)
    error = models.JSONField(null=True, blank=True)
    # Encrypted object in the storage, never a plaintext path.
    reference_key = models.CharField(max_length=255)
    reference_filename = models.CharField(max_length=255, blank=True)
    reference_bytes = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField()
    sample_rate = models.PositiveIntegerField()
    # The engine's profile of the voice, encrypted in the storage like audio.
    profile_key = models.CharField(max_length=255, blank=True)
    profile_engine = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Deleted voices disappear from the API at once; their rows stay for the
    # tasks that used them until the retention purge removes both.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "deleted_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class TaskStatus(models.TextChoices):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    DONE = "DONE"
    FAILED = "FAILED"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tasks")
    speaker = models.ForeignKey(Speaker, on_delete=models.PROTECT, related_name="tasks")
    text = encrypt(models.TextField())
    characters = models.PositiveIntegerField()
    language = models.CharField(max_length=8)
    priority = models.PositiveSmallIntegerField(default=0)
    # Engine parameters (speed...), validated by the API.
    params = models.JSONField(default=dict, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.JSONField(null=True, blank=True)
    result_key = models.CharField(max_length=255, blank=True)
    result_bytes = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField(null=True, blank=True)
    # Cosine between speaker embeddings of the result and of the reference.
    similarity = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"]), models.Index(fields=["tenant", "status"])]

    def __str__(self) -> str:
        return f"task {self.id} ({self.status})"
