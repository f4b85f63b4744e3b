from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from synthesis import operations
from synthesis.models import Batch, Speaker, Task, WebhookDelivery
from tenants.admin_audit import AuditedAdmin


@admin.register(Speaker)
class SpeakerAdmin(AuditedAdmin):
    list_display = ("name", "tenant", "language", "status", "created_at", "deleted_at")
    list_filter = ("status", "language")
    exclude = ("reference_text",)
    readonly_fields = ("reference_key", "profile_key", "profile_engine", "reference_bytes", "duration_seconds")


@admin.register(Task)
class TaskAdmin(AuditedAdmin):
    # attempts > 1: a worker died on it; worker and heartbeat_at: who holds it and their last sign of life.
    list_display = ("id", "tenant", "status", "progress", "priority", "attempts", "worker", "heartbeat_at",
                    "created_at", "finished_at")  # fmt: skip
    list_filter = ("status", "priority")
    exclude = ("text",)  # personal data: operators see the numbers, not the words

    def has_add_permission(self, request):
        return False


admin.site.register(Batch, AuditedAdmin)
admin.site.register(WebhookDelivery, AuditedAdmin)


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
