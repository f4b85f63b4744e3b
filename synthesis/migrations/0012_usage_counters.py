"""Usage counters (issue 14): the purge archive becomes the live per-day counters, and
each tenant gets a running total of stored bytes. Existing data is counted in."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

REFUNDED = ("FAILED", "CANCELLED")


def count_existing(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Task = apps.get_model("synthesis", "Task")
    Speaker = apps.get_model("synthesis", "Speaker")
    SynthesisModel = apps.get_model("synthesis", "SynthesisModel")
    DailyUsage = apps.get_model("synthesis", "DailyUsage")
    TenantUsage = apps.get_model("synthesis", "TenantUsage")
    for tenant in Tenant.objects.all():
        live = (
            Task.objects.filter(tenant=tenant)
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(
                tasks=Count("id"),
                done=Count("id", filter=Q(status="DONE")),
                failed=Count("id", filter=Q(status="FAILED")),
                characters=Coalesce(Sum("characters", filter=~Q(status__in=REFUNDED)), 0),
                audio_seconds=Coalesce(Sum("duration_seconds"), 0.0),
            )
        )
        for row in live:  # the rows so far held only what the purge had deleted: add the live tasks
            counted, _ = DailyUsage.objects.get_or_create(tenant=tenant, day=row["day"])
            counted.tasks += row["tasks"]
            counted.tasks_done += row["done"]
            counted.tasks_failed += row["failed"]
            counted.characters += row["characters"]
            counted.audio_seconds += row["audio_seconds"]
            counted.save()
        stored = (
            Task.objects.filter(tenant=tenant).aggregate(n=Coalesce(Sum("result_bytes"), 0))["n"]
            + Speaker.objects.filter(tenant=tenant, deleted_at__isnull=True).aggregate(
                n=Coalesce(Sum("reference_bytes"), 0)
            )["n"]
            + SynthesisModel.objects.filter(tenant=tenant).aggregate(n=Coalesce(Sum("stored_bytes"), 0))["n"]
        )
        active = Task.objects.filter(tenant=tenant, status__in=("PENDING", "PROCESSING")).count()
        TenantUsage.objects.update_or_create(tenant=tenant, defaults={"stored_bytes": stored, "active_tasks": active})


class Migration(migrations.Migration):
    dependencies = [
        ("synthesis", "0011_compat_model_choice"),
        ("tenants", "0010_quota_models"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="purgedusage", name="purged_usage_per_day"),
        migrations.RenameModel(old_name="PurgedUsage", new_name="DailyUsage"),
        migrations.AlterModelOptions(name="dailyusage", options={"verbose_name_plural": "daily usage"}),
        migrations.AddConstraint(
            model_name="dailyusage",
            constraint=models.UniqueConstraint(fields=("tenant", "day"), name="daily_usage_per_day"),
        ),
        migrations.CreateModel(
            name="TenantUsage",
            fields=[
                (
                    "tenant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="usage",
                        serialize=False,
                        to="tenants.tenant",
                    ),
                ),
                ("stored_bytes", models.BigIntegerField(default=0, help_text="Results, voice references and own models")),
                ("active_tasks", models.IntegerField(default=0, help_text="Tasks PENDING or PROCESSING")),
            ],
            options={"verbose_name_plural": "tenant usage"},
        ),
        migrations.RunPython(count_existing, migrations.RunPython.noop),
    ]
