from django.contrib import admin
from django.db import transaction

from sovits_site.middleware import client_ip
from tenants import dpa
from tenants.models import ApiKey, AuditEvent, Membership, Quota, Tenant
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
