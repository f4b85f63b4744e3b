"""Webhooks whose retries were only in Redis before webhook_due_at existed: mark them due,
so the reconciler delivers them (with their event's id kept, see webhooks._attempt)."""

from django.conf import settings
from django.db import migrations
from django.db.models import Exists, OuterRef
from django.utils import timezone


def mark_due(apps, schema_editor):
    Task = apps.get_model("synthesis", "Task")
    WebhookDelivery = apps.get_model("synthesis", "WebhookDelivery")
    delivered = WebhookDelivery.objects.filter(task=OuterRef("pk"), succeeded=True)
    attempts = WebhookDelivery.objects.filter(task=OuterRef("pk"), attempt__gte=settings.WEBHOOK_MAX_ATTEMPTS)
    Task.objects.filter(status__in=["DONE", "FAILED"], webhook_due_at__isnull=True).exclude(callback_url="").exclude(
        Exists(delivered)
    ).exclude(Exists(attempts)).update(webhook_due_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("synthesis", "0007_task_leases_and_reconciliation")]

    operations = [migrations.RunPython(mark_due, migrations.RunPython.noop)]
