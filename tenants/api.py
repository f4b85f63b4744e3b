"""Token endpoints (simplejwt's views) and API key management for owners and admins."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from sovits_site.errors import ApiError
from sovits_site.middleware import client_ip
from tenants import dpa
from tenants.models import Role, Scope
from tenants.permissions import IsTenantAdmin
from tenants.selectors import api_key_get, api_key_list
from tenants.services import api_key_create, api_key_revoke, websocket_ticket_issue


class TokenObtainApi(TokenObtainPairView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def handle_exception(self, exc):
        # django-axes marks a locked-out attempt on the request it was given, DRF's
        # wrapper; hand the mark to Django's request so AxesMiddleware answers 429.
        if getattr(self.request, "axes_locked_out", False):
            self.request._request.axes_locked_out = True
        return super().handle_exception(exc)


class TokenRefreshApi(TokenRefreshView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except get_user_model().DoesNotExist as exc:
            # simplejwt looks the user up with .get(): the account was erased since the token was issued.
            raise exceptions.AuthenticationFailed("No active account found for the given token") from exc


class LogoutApi(TokenBlacklistView):
    """Blacklists the refresh token; its access tokens die at their (short) expiry."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class CreatedApiKeySerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(help_text="The secret key; shown in this answer only")


class ApiKeyListCreateApi(APIView):
    permission_classes = [IsTenantAdmin]

    class ApiKeyCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, allow_blank=True, default="")
        scopes = serializers.MultipleChoiceField(choices=Scope.choices, required=False, allow_empty=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

        def validate_expires_at(self, value):
            if value is not None and value <= timezone.now():
                raise serializers.ValidationError("Must be in the future.")
            return value

    @extend_schema(
        responses=inline_serializer(
            name="ApiKeyList",
            fields={"count": serializers.IntegerField(), "results": ApiKeyOutputSerializer(many=True)},
        )
    )
    def get(self, request):
        keys = api_key_list(tenant=request.tenant)
        return Response({"count": len(keys), "results": ApiKeyOutputSerializer(keys, many=True).data})

    @extend_schema(request=ApiKeyCreateInputSerializer, responses={201: CreatedApiKeySerializer})
    def post(self, request):
        serializer = self.ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        created_by = request.user if getattr(request.user, "pk", None) else None
        issued = api_key_create(
            tenant=request.tenant,
            name=data["name"],
            created_by=created_by,
            scopes=sorted(data["scopes"]) if "scopes" in data else None,
            expires_at=data["expires_at"],
            ip=client_ip(request),
        )
        body = {**ApiKeyOutputSerializer(issued.api_key).data, "key": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    def post(self, request, key_id):
        api_key = api_key_revoke(
            api_key=api_key_get(tenant=request.tenant, key_id=key_id), actor=request.user, ip=client_ip(request)
        )
        return Response(ApiKeyOutputSerializer(api_key).data)


class WebSocketTicketApi(APIView):
    """A short-lived ticket for API clients to open ``/ws/`` (``?ticket=...``), since
    browsers' WebSocket API cannot send an Authorization header."""

    scopes = {"POST": "read"}

    @extend_schema(
        request=None,
        responses=inline_serializer(
            name="WebSocketTicket", fields={"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()}
        ),
    )
    def post(self, request):
        ticket, ttl = websocket_ticket_issue(tenant=request.tenant)
        return Response({"ticket": ticket, "expires_in": ttl})


class DpaApi(APIView):
    """The Data Processing Agreement in force, and whether this tenant accepted it."""

    @extend_schema(
        responses=inline_serializer(
            name="Dpa",
            fields={
                "version": serializers.CharField(),
                "accepted": serializers.BooleanField(),
                "accepted_at": serializers.DateTimeField(allow_null=True),
                "text": serializers.CharField(),
            },
        )
    )
    def get(self, request):
        acceptance = dpa.accepted(request.tenant)
        return Response({
            "version": dpa.current_version(),
            "accepted": acceptance is not None,
            "accepted_at": acceptance.accepted_at if acceptance else None,
            "text": dpa.text(),
        })  # fmt: skip


class DpaAcceptApi(APIView):
    """Only the tenant's owner, signed in as a person, accepts on the tenant's behalf."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            name="DpaAcceptance",
            fields={"version": serializers.CharField(), "accepted_at": serializers.DateTimeField()},
        ),
    )
    def post(self, request):
        if request.principal.api_key is not None or request.principal.role != Role.OWNER:
            raise ApiError("PERMISSION_DENIED", "Only the tenant's owner can accept the DPA")
        acceptance = dpa.accept(tenant=request.tenant, user=request.user, ip=client_ip(request))
        return Response({"version": acceptance.version, "accepted_at": acceptance.accepted_at})
