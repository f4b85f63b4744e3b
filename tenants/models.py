from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django_cryptography.fields import encrypt


class Region(models.TextChoices):
    """Where a tenant's files are stored and its jobs run (settings.REGIONS serves some of them)."""

    CN = "cn", "China"
    EU = "eu", "European Union"
    US = "us", "United States"


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    # The tenant's AES-256 data key, wrapped (AES-GCM) by the master key.
    # Destroying it makes every file of the tenant unreadable.
    wrapped_data_key = models.BinaryField()
    # Task texts and results are purged this many days after creation.
    retention_days = models.PositiveSmallIntegerField(choices=[(7, "7 days"), (30, "30 days")], default=30)
    # Fixed at creation: moving a tenant means moving its files and queues (not offered).
    region = models.CharField(max_length=2, choices=Region.choices, default=Region.EU)
    # Signs webhook deliveries (Standard Webhooks); the tenant can view and rotate it.
    webhook_secret = encrypt(models.CharField(max_length=100, blank=True))
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Membership(models.Model):
    # One tenant per user keeps "the tenant is the principal's" unambiguous.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class Scope(models.TextChoices):
    SYNTHESIZE = "synthesize"  # create and cancel tasks and batches, the drop-in endpoints
    VOICES_WRITE = "voices:write"  # upload and delete voices
    READ = "read"  # every GET
    ADMIN = "admin"  # API keys and the webhook secret


def all_scopes() -> list[str]:
    return [scope.value for scope in Scope]


def default_scopes() -> list[str]:
    """Everything but ``admin``: managing keys must be asked for explicitly."""
    return [scope.value for scope in Scope if scope != Scope.ADMIN]


class ApiKey(models.Model):
    """A tenant's API key. Only a SHA-256 digest of the secret is stored.

    The secret carries 256 bits of randomness, so a fast digest is as safe as a
    slow password hash here and keeps authentication to one indexed lookup.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="First characters of the key, to recognise it")
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=default_scopes)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# Module-level functions (not lambdas) so migrations can refer to them.
def default_monthly_characters() -> int:
    return settings.DEFAULT_QUOTAS["monthly_characters"]


def default_daily_tasks() -> int:
    return settings.DEFAULT_QUOTAS["daily_tasks"]


def default_concurrent_tasks() -> int:
    return settings.DEFAULT_QUOTAS["concurrent_tasks"]


def default_voices() -> int:
    return settings.DEFAULT_QUOTAS["voices"]


def default_models() -> int:
    return settings.DEFAULT_QUOTAS["model_pairs"]


def default_stored_bytes() -> int:
    return settings.DEFAULT_QUOTAS["stored_bytes"]


def default_requests_per_minute() -> int:
    return settings.DEFAULT_QUOTAS["requests_per_minute"]


class Quota(models.Model):
    """A tenant's limits. New tenants start on DEFAULT_QUOTAS; operators raise them."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="quota")
    monthly_characters = models.PositiveBigIntegerField(default=default_monthly_characters)
    daily_tasks = models.PositiveIntegerField(default=default_daily_tasks)
    concurrent_tasks = models.PositiveIntegerField(default=default_concurrent_tasks)
    voices = models.PositiveIntegerField(default=default_voices)
    model_pairs = models.PositiveIntegerField(default=default_models, help_text="The tenant's own uploaded models")
    stored_bytes = models.PositiveBigIntegerField(default=default_stored_bytes)
    requests_per_minute = models.PositiveIntegerField(default=default_requests_per_minute)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"quota of {self.tenant}"


class AuditEvent(models.Model):
    """A security-relevant action: who, on which tenant, from where, when. Append-only."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="User name, API key prefix or 'system'")
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} by {self.actor_label}"


class DpaAcceptance(models.Model):
    """An owner's acceptance of one version of the Data Processing Agreement."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="dpa_acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    version = models.CharField(max_length=32)
    ip = models.GenericIPAddressField(null=True, blank=True)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        return f"{self.tenant} accepted DPA {self.version}"


class SubjectRequest(models.Model):
    """A GDPR data-subject request (Art. 15 access, 20 portability, 17 erasure), filed by
    a tenant's owner about the voices of one person, or erasure of the whole tenant."""

    class Kind(models.TextChoices):
        ACCESS = "access"
        PORTABILITY = "portability"
        ERASURE = "erasure"
        TENANT_ERASURE = "tenant_erasure"

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED"
        PROCESSING = "PROCESSING"
        DONE = "DONE"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, null=True, on_delete=models.SET_NULL, related_name="subject_requests")
    tenant_slug = models.CharField(max_length=63, help_text="Kept after the tenant itself is erased")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="Who the data is about, in the owner's words")
    speaker_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    export_key = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a worker claimed it: a PROCESSING request older than the job's time limit was
    # abandoned by a worker that died, and may be claimed again.
    started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(help_text="One month after receipt (GDPR Art. 12(3))")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.tenant_slug} ({self.status})"
