from __future__ import annotations

from django.contrib.auth import logout
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import ApiError
from sovits_site.middleware import client_ip
from sovits_site.schema import PAGE_PARAMETERS, paginated
from synthesis import storage
from synthesis.api.pagination import paginated_response
from synthesis.services.subject_requests import export_for_token, export_url, request_create
from tenants.authentication import TenantSessionAuthentication
from tenants.models import Role, SubjectRequest


class SubjectRequestSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=SubjectRequest.Kind.choices)
    subject = serializers.CharField()
    speaker_ids = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=SubjectRequest.Status.choices)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    export_url = serializers.SerializerMethodField()

    def get_export_url(self, request: SubjectRequest) -> str | None:
        return export_url(request, self.context.get("request"))


def _require_owner(request) -> None:
    if request.principal.api_key is not None or request.principal.role != Role.OWNER:
        raise ApiError("PERMISSION_DENIED", "Only the tenant's owner files data-subject requests")


class SubjectRequestListCreateApi(APIView):
    class SubjectRequestInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=SubjectRequest.Kind.choices)
        subject = serializers.CharField(max_length=200, allow_blank=True, default="")
        speaker_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=100)

    @extend_schema(
        operation_id="privacy_requests_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated("PaginatedSubjectRequestList", SubjectRequestSerializer),
    )
    def get(self, request):
        _require_owner(request)
        rows = SubjectRequest.objects.filter(tenant=request.tenant).order_by("-created_at")
        return paginated_response(request, rows, SubjectRequestSerializer, view=self)

    @extend_schema(request=SubjectRequestInputSerializer, responses={202: SubjectRequestSerializer})
    def post(self, request):
        _require_owner(request)
        serializer = self.SubjectRequestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = request_create(tenant=request.tenant, user=request.user, ip=client_ip(request),
                                 **serializer.validated_data)  # fmt: skip
        body = SubjectRequestSerializer(created, context={"request": request}).data
        if created.kind == SubjectRequest.Kind.TENANT_ERASURE:
            _end_browser_session(request, workspace=request.tenant.name)
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _end_browser_session(request, *, workspace: str) -> None:
    """The owner asked to erase the workspace from the app: sign this browser out now (the
    accounts are already disabled). The fresh session keeps the name for the erased page."""
    if isinstance(request.successful_authenticator, TenantSessionAuthentication):
        logout(request._request)
        request._request.session["erased_workspace"] = workspace


class SubjectRequestDetailApi(APIView):
    @extend_schema(responses=SubjectRequestSerializer)
    def get(self, request, request_id):
        _require_owner(request)
        row = SubjectRequest.objects.filter(tenant=request.tenant, id=request_id).first()
        if row is None:
            raise ApiError("NOT_FOUND", "No such request")
        return Response(SubjectRequestSerializer(row, context={"request": request}).data)


class SubjectExportApi(APIView):
    """The export zip behind a signed, expiring link (the link is the credential)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, token):
        row, chunks = export_for_token(token)
        response = StreamingHttpResponse(chunks, content_type="application/zip")
        response["Content-Length"] = storage.plain_size(row.export_key)
        response["Content-Disposition"] = f'attachment; filename="subject-{row.id}.zip"'
        return response
