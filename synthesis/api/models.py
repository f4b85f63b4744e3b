"""``/api/v1/models``: the model pairs a tenant's voices may speak through."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis.engines import served
from synthesis.selectors import model_list


class ModelOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    engine = serializers.CharField()
    version = serializers.CharField(help_text="GPT-SoVITS version read from the file: v2, v2Pro or v2ProPlus")
    status = serializers.CharField(help_text="PROCESSING (being checked), READY or FAILED")
    error = serializers.JSONField()
    is_default = serializers.BooleanField(help_text="New voices of the engine use it unless they name one")
    base = serializers.SerializerMethodField(help_text="True for the operator's models, shared by every tenant")
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
