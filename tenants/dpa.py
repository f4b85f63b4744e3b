"""The Data Processing Agreement: its current text and who accepted which version."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from sovits_site.errors import ApiError
from tenants.models import DpaAcceptance, Tenant
from tenants.services import audit_record


def current_version() -> str:
    return settings.DPA_VERSION


def text(version: str | None = None) -> str:
    return (settings.DPA_DIR / f"{version or current_version()}.md").read_text()


def accepted(tenant: Tenant) -> DpaAcceptance | None:
    return DpaAcceptance.objects.filter(tenant=tenant, version=current_version()).first()


_accepted: set[tuple] = set()  # (tenant id, version) this process has seen accepted: never taken back


def require_accepted(tenant: Tenant) -> None:
    """Refuse unless the tenant's owner accepted the current version. Checked before every
    task create and every upload of voice data (references and models are biometric data),
    so a positive answer is remembered."""
    if (tenant.id, current_version()) in _accepted:
        return
    if accepted(tenant) is not None:
        _accepted.add((tenant.id, current_version()))
    else:
        raise ApiError(
            "DPA_NOT_ACCEPTED",
            f"The workspace's owner must accept the Data Processing Agreement (version {current_version()}) "
            "before voices are uploaded or speech is made: read and accept it at the link in details.url",
            details={"version": current_version(), "url": reverse("page-dpa")},
        )


@transaction.atomic
def accept(*, tenant: Tenant, user, ip: str | None = None) -> DpaAcceptance:
    existing = accepted(tenant)
    if existing is not None:
        return existing
    acceptance = DpaAcceptance.objects.create(tenant=tenant, user=user, version=current_version(), ip=ip)
    audit_record(tenant=tenant, actor=user, action="dpa.accepted", target=current_version(), ip=ip)
    return acceptance
