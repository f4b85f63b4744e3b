"""Writes for tenants, members and API keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from tenants import key_cache, keys
from tenants.models import ApiKey, AuditEvent, Membership, Quota, Role, Tenant, default_scopes

API_KEY_PREFIX = "sk_live_"


def api_key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def tenant_create(*, slug: str, name: str | None = None, region: str | None = None) -> Tenant:
    region = region or settings.DEFAULT_REGION
    if region not in settings.REGIONS:
        raise ValueError(f"region {region!r} is not served here; choose one of {settings.REGIONS}")
    tenant_id = uuid.uuid4()
    tenant = Tenant.objects.create(
        id=tenant_id,
        slug=slug,
        name=name or slug,
        region=region,
        wrapped_data_key=keys.new_wrapped_data_key(str(tenant_id)),
    )
    Quota.objects.create(tenant=tenant)
    return tenant


@transaction.atomic
def member_create(*, tenant: Tenant, username: str, password: str, role: str = Role.MEMBER) -> Membership:
    user = get_user_model().objects.create_user(username=username, password=password)
    return Membership.objects.create(user=user, tenant=tenant, role=role)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str = "",
    created_by=None,
    scopes: list[str] | None = None,
    expires_at=None,
    ip: str | None = None,
) -> IssuedApiKey:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=secret[: len(API_KEY_PREFIX) + 6],
        digest=api_key_digest(secret),
        created_by=created_by,
        scopes=sorted(set(scopes)) if scopes is not None else default_scopes(),
        expires_at=expires_at,
    )
    audit_record(tenant=tenant, actor=created_by, action="api_key.created", target=str(api_key.id), ip=ip,
                 details={"name": name, "scopes": api_key.scopes})  # fmt: skip
    return IssuedApiKey(api_key=api_key, secret=secret)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor=None, ip: str | None = None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        key_cache.forget(api_key.digest)
        audit_record(tenant=api_key.tenant, actor=actor, action="api_key.revoked", target=str(api_key.id), ip=ip)
    return api_key


def audit_record(*, action: str, tenant: Tenant | None = None, actor=None, target: str = "", ip: str | None = None,
                 details: dict | None = None) -> AuditEvent:  # fmt: skip
    """Write one audit row; call it inside the transaction of the change it records."""
    user = actor if getattr(actor, "pk", None) else None
    label = str(actor) if actor is not None else "system"
    return AuditEvent.objects.create(tenant=tenant, actor=user, actor_label=label[:150], action=action,
                                     target=target[:200], ip=ip, details=details or {})  # fmt: skip


WEBSOCKET_TICKET_TTL_SECONDS = 60
_TICKET_SALT = "tenants.websocket-ticket"


def websocket_ticket_issue(*, tenant: Tenant) -> tuple[str, int]:
    """A signed ticket naming the tenant, valid for a minute and for one connection."""
    ticket = signing.dumps({"tenant": str(tenant.id), "nonce": secrets.token_urlsafe(16)}, salt=_TICKET_SALT)
    return ticket, WEBSOCKET_TICKET_TTL_SECONDS


def websocket_ticket_tenant(ticket: str) -> Tenant | None:
    """The tenant a ticket names, or None if it is forged, expired, already used or the tenant is gone.

    Single use: a ticket rides in the URL, where logs and proxies may keep it, so the first
    connection spends it (an atomic add in the shared cache, kept until the ticket expires anyway)."""
    try:
        data = signing.loads(ticket, salt=_TICKET_SALT, max_age=WEBSOCKET_TICKET_TTL_SECONDS)
    except signing.BadSignature:
        return None
    nonce = data.get("nonce")
    if not nonce or not cache.add(f"ws-ticket-used:{nonce}", True, timeout=WEBSOCKET_TICKET_TTL_SECONDS + 5):
        return None
    return Tenant.objects.filter(id=data.get("tenant")).first()
