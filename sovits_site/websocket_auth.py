"""Who a WebSocket belongs to: sets ``scope["tenant"]`` (or leaves it None).

- A ``?ticket=`` from ``POST /api/v1/auth/ws-ticket`` (API clients), or
- the browser session, only when the ``Origin`` is this site's own: the session
  cookie is sent by the browser to any page's WebSocket, so without this check
  another site could open a socket as the signed-in user (cross-site WebSocket
  hijacking).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings

from tenants.models import Membership
from tenants.services import websocket_ticket_tenant


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def same_origin(scope) -> bool:
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return urlsplit(origin).netloc == host


class TenantWebSocketAuth:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope, tenant=await self.tenant_for(scope))
        return await self.inner(scope, receive, send)

    async def tenant_for(self, scope):
        ticket = parse_qs(scope.get("query_string", b"").decode()).get("ticket", [None])[0]
        if ticket:
            return await database_sync_to_async(websocket_ticket_tenant)(ticket)
        user = scope.get("user")
        if user is None or not user.is_authenticated or not same_origin(scope):
            return None
        return await database_sync_to_async(_tenant_of)(user)


def _tenant_of(user):
    membership = Membership.objects.select_related("tenant").filter(user=user).first()
    return membership.tenant if membership else None


def websocket_auth_stack(inner):
    """Session and user from the cookies (Channels), then the tenant (ours)."""
    return AuthMiddlewareStack(TenantWebSocketAuth(inner))
