"""``/api/v1/models``: the model pairs a tenant's voices may speak through."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import ApiError
from sovits_site.middleware import client_ip
from synthesis.engines import served
from synthesis.selectors import model_get, model_list
from synthesis.services.models import model_delete, model_upload


class ModelOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    engine = serializers.CharField()
    version = serializers.CharField(help_text="GPT-SoVITS version read from the file: v2, v2Pro or v2ProPlus")
    status = serializers.CharField(help_text="PROCESSING (being checked), READY or FAILED")
    error = serializers.JSONField()
    is_default = serializers.BooleanField(help_text="New voices of the engine use it unless they name one")
    base = serializers.SerializerMethodField(help_text="True for the operator's models, shared by every tenant")
    stored_bytes = serializers.IntegerField(help_text="Your own models' encrypted size (0 for base models)")
    created_at = serializers.DateTimeField()

    def get_base(self, model) -> bool:
        return model.tenant_id is None


class EngineOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    languages = serializers.ListField(child=serializers.CharField())
    needs_reference_text = serializers.BooleanField()
    reference_seconds = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    uses_models = serializers.BooleanField()


class ModelListApi(APIView):
    scopes = {"POST": "voices:write"}

    class ModelUploadSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        gpt = serializers.FileField(allow_empty_file=False, help_text="The GPT (s1) checkpoint, .ckpt")
        sovits = serializers.FileField(allow_empty_file=False, help_text="The SoVITS (s2) weights, .pth")

    @extend_schema(
        operation_id="models_upload",
        request={"multipart/form-data": ModelUploadSerializer},
        responses={202: ModelOutputSerializer},
        description="Upload your own fine-tuned GPT-SoVITS pair (v2, v2Pro or v2ProPlus). It is stored encrypted "
        "and checked by a worker: PROCESSING, then READY or FAILED with the reason.",
    )
    def post(self, request):
        if getattr(request._request, "upload_too_large", False):
            raise ApiError("PAYLOAD_TOO_LARGE", details={"max_bytes": settings.MODEL_MAX_BYTES})
        serializer = self.ModelUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        model = model_upload(
            tenant=request.tenant, name=data["name"], gpt=data["gpt"], sovits=data["sovits"],
            actor=request.user, ip=client_ip(request),
        )  # fmt: skip
        return Response(ModelOutputSerializer(model).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="models_list",
        responses=serializers.ListSerializer(child=ModelOutputSerializer()),
        description="Every model the tenant may use (base models first by default), of the engines served.",
    )
    def get(self, request):
        engines = [info.name for info in served()]
        models = model_list(tenant=request.tenant).filter(engine__in=engines)
        return Response(ModelOutputSerializer(models, many=True).data)


class EngineListApi(APIView):
    @extend_schema(
        operation_id="engines_list",
        responses=serializers.ListSerializer(child=EngineOutputSerializer()),
        description="The engines this deployment serves, the default first.",
    )
    def get(self, request):
        return Response(
            [
                {
                    "name": info.name,
                    "languages": sorted(info.languages),
                    "needs_reference_text": info.needs_reference_text,
                    "reference_seconds": list(info.reference_seconds) if info.reference_seconds else None,
                    "uses_models": info.uses_models,
                }
                for info in served()
            ]
        )


class ModelDetailApi(APIView):
    scopes = {"DELETE": "voices:write"}

    @extend_schema(responses=ModelOutputSerializer)
    def get(self, request, model_id):
        return Response(ModelOutputSerializer(model_get(tenant=request.tenant, model_id=model_id)).data)

    @extend_schema(responses={204: None}, description="Delete your own model (not while a voice uses it).")
    def delete(self, request, model_id):
        model = model_get(tenant=request.tenant, model_id=model_id)
        model_delete(model=model, actor=request.user, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
