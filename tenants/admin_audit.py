"""Operator actions in the admin console go to the audit log."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from sovits_site.middleware import client_ip
from tenants.models import Tenant
from tenants.services import audit_record


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete an operator makes through this admin is audited, in
    the transaction that makes it. Field names are recorded, never their values."""

    def audit(self, request, obj, verb: str, fields: list[str] | None = None) -> None:
        tenant = obj if isinstance(obj, Tenant) else getattr(obj, "tenant", None)
        audit_record(
            tenant=tenant,
            actor=request.user,
            action=f"{obj._meta.model_name}.{verb}_by_operator",
            target=str(obj.pk),
            ip=client_ip(request),
            details={"fields": fields} if fields else None,
        )

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            self.audit(request, obj, "changed" if change else "created", list(form.changed_data))

    def delete_model(self, request, obj):
        with transaction.atomic():
            self.audit(request, obj, "deleted")
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self.audit(request, obj, "deleted")
            super().delete_queryset(request, queryset)
