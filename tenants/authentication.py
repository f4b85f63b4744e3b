"""The three ways in (API key, JWT, browser session), each resolving to a tenant.

Every authenticator returns ``(user, TenantPrincipal)``; ``request.tenant`` is
set from the principal in exactly one place (``tenants.permissions``), so no
view ever takes a tenant from the URL or the body.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from sovits_site.errors import TokenExpired
from tenants.key_cache import active_key
from tenants.models import ApiKey, Membership, Tenant
from tenants.services import API_KEY_PREFIX, api_key_digest

# Writing last_used_at on every request would make each API call a write;
# once a minute is enough to tell a live key from a dead one.
_LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class TenantPrincipal:
    tenant: Tenant
    role: str
    api_key: ApiKey | None = None


class ApiKeyUser:
    """The request user for API-key calls: the key acts for its tenant, not for a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.username = f"api-key:{api_key.prefix}"

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key <key>`` or ``X-API-Key: <key>``."""

    keyword = "Api-Key"

    def authenticate(self, request):
        secret = self._secret_from(request)
        if secret is None:
            return None
        if not secret.startswith(API_KEY_PREFIX):
            raise exceptions.AuthenticationFailed("Invalid API key")
        digest = api_key_digest(secret)
        api_key = active_key(digest)
        if api_key is None:
            # Only the holder of the exact secret learns it was revoked (a failed request's one extra query).
            if ApiKey.objects.filter(digest=digest, revoked_at__isnull=False).exists():
                raise exceptions.AuthenticationFailed("This API key was revoked; ask an owner or admin for a new one")
            raise exceptions.AuthenticationFailed("Invalid API key: no such key")
        now = timezone.now()
        if api_key.expires_at is not None and api_key.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API key has expired")
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_SECONDS:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
        # API keys are issued by owners and admins and act with member rights.
        return ApiKeyUser(api_key), TenantPrincipal(tenant=api_key.tenant, role="member", api_key=api_key)

    def _secret_from(self, request) -> str | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == self.keyword.lower():
                return value.strip()
            # OpenAI clients send their key as a bearer token; JWTs never start like this.
            if scheme.lower() == "bearer" and value.strip().startswith(API_KEY_PREFIX):
                return value.strip()
        value = request.META.get("HTTP_X_API_KEY")
        return value.strip() if value else None

    def authenticate_header(self, request) -> str:
        return self.keyword


def _principal_for(user) -> TenantPrincipal:
    membership = Membership.objects.select_related("tenant").filter(user=user).first()
    if membership is None:
        raise exceptions.AuthenticationFailed("This account belongs to no tenant")
    return TenantPrincipal(tenant=membership.tenant, role=membership.role)


class TenantJWTAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token):
        """simplejwt's own check, with an expired token told apart (``TOKEN_EXPIRED``: refresh it)
        from a bad one, each in plain words."""
        expired = False
        for token_class in jwt_settings.AUTH_TOKEN_CLASSES:
            try:
                return token_class(raw_token)
            except ExpiredTokenError:
                expired = True
            except TokenError:
                pass
        if expired:
            raise TokenExpired()
        raise exceptions.AuthenticationFailed("The bearer token is invalid", code="token_not_valid")

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _token = result
        return user, _principal_for(user)


class TenantSessionAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, _principal_for(user)
