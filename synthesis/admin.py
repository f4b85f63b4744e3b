from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import path

from synthesis import operations
from synthesis.models import Batch, ModelStatus, Speaker, SynthesisModel, Task, WebhookDelivery
from synthesis.services.models import model_enqueue_check
from tenants.admin_audit import AuditedAdmin


@admin.register(Speaker)
class SpeakerAdmin(AuditedAdmin):
    list_display = ("name", "tenant", "language", "engine", "status", "created_at", "deleted_at")
    list_filter = ("status", "language", "engine")
    exclude = ("reference_text",)
    readonly_fields = ("reference_key", "profile_key", "profile_engine", "reference_bytes", "duration_seconds")

    def has_add_permission(self, request):
        return False  # a voice is an upload a worker profiles: tenants add them (the API, the app)

    def has_delete_permission(self, request, obj=None):
        # Tenants delete voices (the API, the app) and erasure removes them: both keep the
        # usage counters and the files in step; a row deleted here would do neither.
        return False


@admin.register(SynthesisModel)
class SynthesisModelAdmin(AuditedAdmin):
    """Base models by path: a worker of the engine (which must read the files) checks each
    new or changed pair; it shows READY, or FAILED with the reason."""

    list_display = ("name", "engine", "version", "status", "is_default", "tenant", "checked_at")
    list_filter = ("engine", "status", "is_default")
    fields = ("name", "engine", "gpt_path", "sovits_path", "is_default", "version", "status", "error", "checked_at")
    readonly_fields = ("version", "status", "error", "checked_at")
    actions = ("check_again",)

    def has_delete_permission(self, request, obj=None):
        # Base models only: a tenant's own model is deleted by the tenant (its files, its bytes).
        return obj is not None and obj.tenant_id is None

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            if obj.is_default:  # one default per engine: the new one takes over
                SynthesisModel.objects.filter(tenant__isnull=True, engine=obj.engine, is_default=True).exclude(
                    pk=obj.pk
                ).update(is_default=False)
            if not change or {"gpt_path", "sovits_path", "engine"} & set(form.changed_data):
                obj.status, obj.version, obj.error, obj.checked_at = ModelStatus.PROCESSING, "", None, None
                transaction.on_commit(lambda: model_enqueue_check(obj))
            super().save_model(request, obj, form, change)

    @admin.action(description="Check the selected models' files again")
    def check_again(self, request, queryset):
        for model in queryset:
            SynthesisModel.objects.filter(pk=model.pk).update(status=ModelStatus.PROCESSING, error=None)
            model_enqueue_check(model)
        self.message_user(request, f"{queryset.count()} model(s) sent to a worker for checking", messages.INFO)


@admin.register(Task)
class TaskAdmin(AuditedAdmin):
    # attempts > 1: a worker died on it; worker and heartbeat_at: who holds it and their last sign of life.
    list_display = ("id", "tenant", "status", "progress", "priority", "attempts", "worker", "heartbeat_at",
                    "created_at", "finished_at")  # fmt: skip
    list_filter = ("status", "priority")
    exclude = ("text",)  # personal data: operators see the numbers, not the words

    # Read-only: a task's status, characters and result are counted in the tenant's usage in
    # the transactions that change them (synthesis.services.usage); an edit here would not be.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Batch, AuditedAdmin)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AuditedAdmin):
    """A record of what was sent: read, never made or changed by hand."""

    list_display = ("created_at", "event_type", "tenant", "attempt", "status_code", "succeeded", "next_attempt_at")
    list_filter = ("event_type", "succeeded")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def operations_view(request):
    """Key indicators against their alert thresholds."""
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "indicators": operations.indicators(),
        "purge": operations.purge_metrics(),
        "reconciled": operations.reconciled_counts(),
        "redis_up": operations.redis_up(),
    }
    return TemplateResponse(request, "admin/operations.html", context)


_default_get_urls = admin.site.get_urls


def _get_urls():
    return [path("operations/", admin.site.admin_view(operations_view), name="operations"), *_default_get_urls()]


admin.site.get_urls = _get_urls
admin.site.site_header = "Voice platform operations"
admin.site.site_title = "Voice platform admin"
