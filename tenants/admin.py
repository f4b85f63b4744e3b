import uuid

from django.conf import settings
from django.contrib import admin
from django.db import transaction

from sovits_site.middleware import client_ip
from tenants import dpa, keys
from tenants.admin_audit import AuditedAdmin
from tenants.models import ApiKey, AuditEvent, Membership, Quota, Region, SubjectRequest, Tenant
from tenants.services import api_key_revoke, audit_record


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = False


def usage_chart(days: list[dict], *, width: int = 600, height: int = 120) -> dict:
    """Bars (characters per day) laid out for the SVG on the tenant page."""
    peak = max((day["characters"] for day in days), default=0) or 1
    step = width / max(len(days), 1)
    bars = []
    for n, day in enumerate(days):
        bar_height = round(height * day["characters"] / peak, 1)
        bars.append({**day, "x": round(n * step + 1, 1), "y": round(height - bar_height, 1),
                     "width": round(step - 2, 1), "height": bar_height})  # fmt: skip
    return {
        "bars": bars,
        "width": width,
        "height": height,
        "peak": peak if any(day["characters"] for day in days) else 0,
        "first_day": days[0]["day"] if days else "",
        "characters": sum(day["characters"] for day in days),
        "tasks": sum(day["tasks"] for day in days),
    }


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin):
    list_display = ("slug", "name", "region", "retention_days", "dpa_status", "created_at")
    list_filter = ("region", "retention_days")
    search_fields = ("slug", "name")
    exclude = ("wrapped_data_key", "webhook_secret")
    inlines = [QuotaInline]

    def has_delete_permission(self, request, obj=None):
        # Erasing a tenant destroys its data key first: file a tenant_erasure request instead.
        return False

    def get_readonly_fields(self, request, obj=None):
        # A tenant's files and queues are in its region: it is chosen once, at creation.
        return ("region", "dpa_status", "created_at") if obj else ("created_at",)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "region":
            kwargs["choices"] = [(value, label) for value, label in Region.choices if value in settings.REGIONS]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:  # what tenant_create does; the quota comes from the inline
            obj.id = obj.id or uuid.uuid4()  # the admin's new instance has none yet; the key is bound to it
            obj.wrapped_data_key = keys.new_wrapped_data_key(str(obj.id))
        super().save_model(request, obj, form, change)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from synthesis.services import usage

        tenant = self.get_object(request, object_id)
        if tenant is not None:
            extra_context = {**(extra_context or {}), "usage_chart": usage_chart(usage.daily(tenant, days=30))}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="DPA")
    def dpa_status(self, tenant):
        acceptance = dpa.accepted(tenant)
        return (
            f"accepted {acceptance.accepted_at:%Y-%m-%d}" if acceptance else f"not accepted ({dpa.current_version()})"
        )

    def save_formset(self, request, form, formset, change):
        """Quota edits are audited in the transaction that saves them."""
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            for quota in formset.changed_objects:
                obj, fields = quota
                audit_record(tenant=obj.tenant, actor=request.user, action="quota.changed", target=str(obj.pk),
                             ip=client_ip(request), details={"fields": fields})  # fmt: skip


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    list_display = ("prefix", "name", "tenant", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("created_at", "action", "actor_label", "tenant", "target", "ip")
    list_filter = ("action",)
    search_fields = ("actor_label", "target")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SubjectRequest)
class SubjectRequestAdmin(AuditedAdmin):
    """The data-subject request queue, soonest due first."""

    list_display = ("created_at", "tenant_slug", "kind", "subject", "status", "due_at", "completed_at")
    list_filter = ("status", "kind")
    readonly_fields = ("tenant", "tenant_slug", "kind", "subject", "speaker_ids", "requested_by", "export_key",
                       "error", "created_at", "due_at", "completed_at")  # fmt: skip
    actions = ["work_now"]

    @admin.action(description="Queue the selected requests again (received or failed ones)")
    def work_now(self, request, queryset):
        """Re-queues rather than working in this request: an export can outlast any HTTP timeout."""
        from synthesis.services.subject_requests import request_enqueue

        for row in queryset.filter(status__in=[SubjectRequest.Status.RECEIVED, SubjectRequest.Status.FAILED]):
            if row.tenant is None:
                continue
            SubjectRequest.objects.filter(id=row.id).update(status=SubjectRequest.Status.RECEIVED, error="")
            audit_record(tenant=row.tenant, actor=request.user, action="subject_request.requeued_by_operator",
                         target=str(row.id), ip=client_ip(request))  # fmt: skip
            request_enqueue(row)
            self.message_user(request, f"Queued {row.kind} request {row.id}")

    def has_add_permission(self, request):
        return False
