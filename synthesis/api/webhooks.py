from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis import webhooks
from tenants.permissions import IsTenantAdmin


class WebhookSecretApi(APIView):
    """The tenant's webhook signing secret (``whsec_…``), for verifying deliveries."""

    permission_classes = [IsTenantAdmin]

    def get(self, request):
        return Response({"secret": webhooks.tenant_secret(request.tenant)})


class WebhookSecretRotateApi(APIView):
    permission_classes = [IsTenantAdmin]

    def post(self, request):
        return Response({"secret": webhooks.rotate_secret(request.tenant)})
