from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis import webhooks
from tenants.permissions import IsTenantAdmin

SECRET = inline_serializer(name="WebhookSecret", fields={"secret": serializers.CharField()})


class WebhookSecretApi(APIView):
    """The tenant's webhook signing secret (``whsec_…``), for verifying deliveries."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(responses=SECRET)
    def get(self, request):
        return Response({"secret": webhooks.tenant_secret(request.tenant)})


class WebhookSecretRotateApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(request=None, responses=SECRET)
    def post(self, request):
        return Response({"secret": webhooks.rotate_secret(request.tenant)})
