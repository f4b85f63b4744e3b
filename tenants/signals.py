"""Audit rows for authentication events that Django reports by signal."""

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from sovits_site.middleware import client_ip
from tenants.models import Membership
from tenants.services import audit_record


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
