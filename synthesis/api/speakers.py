from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import ApiError
from sovits_site.middleware import client_ip
from sovits_site.schema import PAGE_PARAMETERS, audio_responses, paginated
from synthesis import audio, storage
from synthesis.api.pagination import paginated_response
from synthesis.languages import LANGUAGES
from synthesis.selectors import speaker_get, speaker_list
from synthesis.services.speakers import speaker_create, speaker_delete


class SpeakerOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    language = serializers.CharField()
    reference_text = serializers.CharField()
    engine = serializers.CharField()
    model_id = serializers.UUIDField(allow_null=True)
    status = serializers.CharField()
    error = serializers.JSONField()
    duration_seconds = serializers.FloatField()
    created_at = serializers.DateTimeField()


class SpeakerListCreateApi(APIView):
    scopes = {"POST": "voices:write"}

    class SpeakerCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        audio = serializers.FileField(allow_empty_file=False)
        reference_text = serializers.CharField(max_length=1000, allow_blank=True, required=False, default="")
        language = serializers.ChoiceField(choices=sorted(LANGUAGES))
        engine = serializers.CharField(
            max_length=32, required=False, help_text="The engine the voice speaks through (default: the first served)"
        )
        model_id = serializers.UUIDField(
            required=False, help_text="For engines with models (gpt-sovits): default, the default base model"
        )

    @extend_schema(
        operation_id="speakers_list",
        parameters=PAGE_PARAMETERS,
        responses=paginated("PaginatedSpeakerList", SpeakerOutputSerializer),
    )
    def get(self, request):
        return paginated_response(request, speaker_list(tenant=request.tenant), SpeakerOutputSerializer, view=self)

    @extend_schema(
        request={"multipart/form-data": SpeakerCreateInputSerializer}, responses={201: SpeakerOutputSerializer}
    )
    def post(self, request):
        if getattr(request._request, "upload_too_large", False):
            raise ApiError("PAYLOAD_TOO_LARGE", details={"max_bytes": settings.MAX_UPLOAD_BYTES})
        serializer = self.SpeakerCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["audio"]
        speaker = speaker_create(
            tenant=request.tenant,
            name=data["name"],
            language=data["language"],
            reference_text=data["reference_text"],
            audio_bytes=upload.read(),
            filename=upload.name or "",
            content_type=upload.content_type,
            engine=data.get("engine"),
            model_id=data.get("model_id"),
        )
        return Response(SpeakerOutputSerializer(speaker).data, status=status.HTTP_201_CREATED)


class SpeakerAudioApi(APIView):
    """The voice's reference recording, decrypted, as uploaded (for the app's play button)."""

    @extend_schema(responses=audio_responses(200))
    def get(self, request, speaker_id):
        speaker = speaker_get(tenant=request.tenant, speaker_id=speaker_id)
        data = storage.get(tenant=speaker.tenant, object_key=speaker.reference_key)
        response = HttpResponse(data, content_type=audio.media_type(data))
        response["Content-Disposition"] = "inline"
        response["Cache-Control"] = "private, max-age=3600"
        return response


class SpeakerDetailApi(APIView):
    scopes = {"DELETE": "voices:write"}

    @extend_schema(responses=SpeakerOutputSerializer)
    def get(self, request, speaker_id):
        return Response(SpeakerOutputSerializer(speaker_get(tenant=request.tenant, speaker_id=speaker_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, speaker_id):
        speaker = speaker_get(tenant=request.tenant, speaker_id=speaker_id)
        speaker_delete(speaker=speaker, actor=request.user, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
