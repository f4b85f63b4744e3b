from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from django_cryptography.fields import encrypt

from tenants.models import Tenant


class SpeakerStatus(models.TextChoices):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class ModelStatus(models.TextChoices):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class SynthesisModel(models.Model):
    """A GPT-SoVITS model pair (GPT ``.ckpt`` and SoVITS ``.pth``) that voices speak through.

    Base models (no tenant) are registered by operators, every tenant may use them, and
    their files stay where the operator put them: at the same path on every GPU worker.
    A tenant's own models are uploaded: their files are encrypted objects in the storage
    (``gpt_key``, ``sovits_key``) that workers decrypt into memory; only that tenant's
    voices may use them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="synthesis_models",
        help_text="Empty: a base model, usable by every tenant",
    )  # fmt: skip
    engine = models.CharField(max_length=32, default="gpt-sovits")
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=16, blank=True, help_text="Read from the SoVITS file when checked")
    gpt_path = models.CharField("GPT file (.ckpt)", max_length=1000, blank=True)
    sovits_path = models.CharField("SoVITS file (.pth)", max_length=1000, blank=True)
    gpt_key = models.CharField(max_length=255, blank=True, editable=False)
    sovits_key = models.CharField(max_length=255, blank=True, editable=False)
    stored_bytes = models.PositiveBigIntegerField(default=0, editable=False)
    is_default = models.BooleanField(default=False, help_text="New voices of the engine use it unless they name one")
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.PROCESSING)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"
        constraints = [
            models.UniqueConstraint(
                fields=["engine", "name"], condition=models.Q(tenant__isnull=True), name="base_model_name_once"
            ),
            models.UniqueConstraint(
                fields=["engine"], condition=models.Q(tenant__isnull=True, is_default=True), name="one_default_model"
            ),
            models.UniqueConstraint(fields=["tenant", "engine", "name"], name="tenant_model_name_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.engine} {self.version or '?'})"


class Speaker(models.Model):
    """A voice: a tenant's reference recording and what is known about it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="speakers")
    name = models.CharField(max_length=100)
    language = models.CharField(max_length=8)
    reference_text = encrypt(models.TextField(blank=True))
    # The engine the voice speaks through, and for GPT-SoVITS its model pair; fixed at upload.
    engine = models.CharField(max_length=32, default="embedded")
    # A model in use by a live voice cannot be deleted; deleted voices let go of theirs.
    model = models.ForeignKey(
        SynthesisModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="speakers"
    )
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
        indexes = [
            models.Index(fields=["tenant", "deleted_at", "-created_at"]),
            models.Index(fields=["created_at"], condition=models.Q(status="PROCESSING"), name="speaker_profiling"),
        ]
        constraints = [
            # Compatible clients name a voice (case-insensitively): one live voice per name.
            models.UniqueConstraint(
                Lower("name"), "tenant", condition=models.Q(deleted_at__isnull=True), name="speaker_name_once",
                violation_error_message="A voice of this tenant already has this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class TaskStatus(models.TextChoices):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINISHED_STATUSES = (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED)


class OutputFormat(models.TextChoices):
    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"  # Opus in Ogg
    MP3 = "mp3"


class Batch(models.Model):
    """Requests submitted together; each is a Task, and workers synthesize them in engine batch calls."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="batches")
    priority = models.PositiveSmallIntegerField(default=0)
    callback_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once, by the ending of its last item (a conditional update: exactly once however
    # many items end at the same time); its batch.completed webhook is then due.
    completed_at = models.DateTimeField(null=True, blank=True)
    webhook_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        indexes = [
            models.Index(
                fields=["webhook_due_at"], condition=models.Q(webhook_due_at__isnull=False), name="batch_webhook_due"
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.id}"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tasks")
    speaker = models.ForeignKey(Speaker, on_delete=models.PROTECT, related_name="tasks")
    text = encrypt(models.TextField())
    characters = models.PositiveIntegerField()
    language = models.CharField(max_length=8)
    priority = models.PositiveSmallIntegerField(default=0)
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    # Engine parameters (speed...), validated by the API.
    params = models.JSONField(default=dict, blank=True)
    output_format = models.CharField(max_length=8, choices=OutputFormat.choices, default=OutputFormat.WAV)
    sample_rate = models.PositiveIntegerField(null=True, blank=True, help_text="None: the engine's own rate")
    # Set by a cancel request while PROCESSING; the worker stops at the next sentence.
    cancel_requested = models.BooleanField(default=False)
    callback_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.JSONField(null=True, blank=True)
    result_key = models.CharField(max_length=255, blank=True)
    result_bytes = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField(null=True, blank=True)
    # Cosine between speaker embeddings of the result and of the reference.
    similarity = models.FloatField(null=True, blank=True)
    # Each claim increments it; the claim's number fences the claimant's later writes, so a
    # worker that lost its task (its lease ran out and another took over) cannot finish it.
    attempts = models.PositiveSmallIntegerField(default=0)
    # The claimant (host:pid) and its last sign of life: a PROCESSING task whose heartbeat is
    # older than TASK_LEASE_SECONDS belongs to a worker that died, and may be taken over.
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the task's webhook is next due (None: none is); the reconciler re-sends what is overdue.
    webhook_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            models.Index(fields=["tenant", "status"]),
            # The reconciler's scans touch only unfinished work and due webhooks, never history.
            models.Index(
                fields=["status", "created_at"],
                condition=models.Q(status__in=["PENDING", "PROCESSING"]),
                name="task_active",
            ),
            models.Index(
                fields=["webhook_due_at"], condition=models.Q(webhook_due_at__isnull=False), name="task_webhook_due"
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.id} ({self.status})"


class TaskTimestamps(models.Model):
    """When each word of a DONE task's text is spoken. Kept apart from the task row, which is
    read on every poll: a long text has thousands of words. ``words`` holds
    ``[start, end, text_start, text_end]`` per word (seconds, then the character span in the
    task's text); no text is stored here, so the encrypted text stays the only copy."""

    task = models.OneToOneField(Task, primary_key=True, on_delete=models.CASCADE, related_name="timestamps")
    words = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"timestamps of task {self.task_id}"


class CompatModelChoice(models.Model):
    """The models an api_v2 client chose with ``/set_gpt_weights`` and ``/set_sovits_weights``:
    its later ``/tts`` calls speak through them. One per caller (API key, else user)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    principal = models.CharField(max_length=64)
    gpt_model = models.ForeignKey(SynthesisModel, null=True, on_delete=models.SET_NULL, related_name="+")
    sovits_model = models.ForeignKey(SynthesisModel, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "principal"], name="compat_choice_once")]

    def __str__(self) -> str:
        return f"model choice of {self.principal}"


class IdempotencyRecord(models.Model):
    """What an ``Idempotency-Key`` created, so a retried request returns it instead of creating again."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    resource_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "endpoint", "key"], name="idempotency_once")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class WebhookDelivery(models.Model):
    """One attempt to deliver one event. Retries of an event share its ``event_id`` (the webhook-id).
    A task's event names its task; a batch's ``batch.completed`` names the batch only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_deliveries")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries")
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event_id = models.CharField(max_length=64, db_index=True)
    event_type = models.CharField(max_length=32)
    url = models.URLField(max_length=2000)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_id} attempt {self.attempt}"


class DailyUsage(models.Model):
    """Usage counters per tenant and day of creation, kept in the transactions that
    create and finish tasks.

    Quotas read them instead of aggregating the tenant's tasks, so a task create costs
    the same with 10 tasks in the month as with 100,000. Only counts, no personal data:
    they outlive the tasks a 7-day policy purges mid-month, and erasure.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    tasks = models.PositiveIntegerField(default=0)
    tasks_done = models.PositiveIntegerField(default=0)
    tasks_failed = models.PositiveIntegerField(default=0)
    characters = models.PositiveBigIntegerField(default=0, help_text="Charged characters (not failed or cancelled)")
    audio_seconds = models.FloatField(default=0)

    class Meta:
        verbose_name_plural = "daily usage"
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="daily_usage_per_day")]

    def __str__(self) -> str:
        return f"usage of {self.tenant_id} on {self.day}"


class TenantUsage(models.Model):
    """The tenant's running totals, and the row its quota-consuming writes lock.

    Both change in the same transactions as the rows they count;
    ``synthesis.services.usage.recount`` rebuilds them from the rows.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="usage")
    stored_bytes = models.BigIntegerField(default=0, help_text="Results, voice references and own models")
    active_tasks = models.IntegerField(default=0, help_text="Tasks PENDING or PROCESSING")

    class Meta:
        verbose_name_plural = "tenant usage"

    def __str__(self) -> str:
        return f"usage of {self.tenant_id}"
