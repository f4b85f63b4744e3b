from django.contrib import admin
from django.db import transaction

from sovits_site.middleware import client_ip
from tenants import dpa
from tenants.models import ApiKey, AuditEvent, Membership, Quota, SubjectRequest, Tenant
from tenants.services import api_key_revoke, audit_record


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "retention_days", "dpa_status", "created_at")
    search_fields = ("slug", "name")
    exclude = ("wrapped_data_key", "webhook_secret")
    inlines = [QuotaInline]

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
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
class SubjectRequestAdmin(admin.ModelAdmin):
    """The data-subject request queue, soonest due first."""

    list_display = ("created_at", "tenant_slug", "kind", "subject", "status", "due_at", "completed_at")
    list_filter = ("status", "kind")
    readonly_fields = ("tenant", "tenant_slug", "kind", "subject", "speaker_ids", "requested_by", "export_key",
                       "error", "created_at", "due_at", "completed_at")  # fmt: skip
    actions = ["work_now"]

    @admin.action(description="Work the selected requests now")
    def work_now(self, request, queryset):
        from synthesis.services.subject_requests import request_work

        for row in queryset.filter(status__in=[SubjectRequest.Status.RECEIVED, SubjectRequest.Status.FAILED]):
            SubjectRequest.objects.filter(id=row.id).update(status=SubjectRequest.Status.RECEIVED)
            audit_record(tenant=row.tenant, actor=request.user, action="subject_request.worked_by_operator",
                         target=str(row.id), ip=client_ip(request))  # fmt: skip
            request_work(request_id=row.id)

    def has_add_permission(self, request):
        return False
