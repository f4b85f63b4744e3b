"""Audit rows for authentication events that Django reports by signal, and cache upkeep."""

from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from sovits_site.middleware import client_ip
from tenants.models import Membership, Quota
from tenants.services import audit_record
from tenants.throttling import forget_rate


@receiver(user_login_failed)
def record_login_failure(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    membership = Membership.objects.select_related("tenant").filter(user__username=username).first()
    audit_record(
        action="login.failed",
        tenant=membership.tenant if membership else None,
        actor=username or "unknown",
        ip=client_ip(request) if request is not None else None,
    )


@receiver(post_save, sender=Quota)
def quota_saved(sender, instance: Quota, **kwargs):
    forget_rate(instance.tenant_id)
