"""When each word of a finished task is spoken: as JSON, and as SRT or WebVTT subtitles."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis import subtitles
from synthesis.selectors import task_get, task_words


class WordSerializer(serializers.Serializer):
    word = serializers.CharField(help_text="text[text_start:text_end]")
    start = serializers.FloatField(help_text="Seconds from the start of the audio")
    end = serializers.FloatField()
    text_start = serializers.IntegerField(help_text="Character offset of the word in the task's text")
    text_end = serializers.IntegerField()


class TaskTimestampsApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            name="TaskTimestamps",
            fields={
                "task_id": serializers.UUIDField(),
                "duration_seconds": serializers.FloatField(),
                "words": WordSerializer(many=True),
            },
        )
    )
    def get(self, request, task_id):
        task = task_get(tenant=request.tenant, task_id=task_id)
        words = task_words(task=task)
        return Response({"task_id": str(task.id), "duration_seconds": task.duration_seconds, "words": words})


_SUBTITLE_FORMATS = {"srt": ("application/x-subrip", subtitles.to_srt), "vtt": ("text/vtt", subtitles.to_vtt)}


class TaskSubtitlesApi(APIView):
    class SubtitlesInputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=sorted(_SUBTITLE_FORMATS), default="vtt")

    @extend_schema(
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=sorted(_SUBTITLE_FORMATS), default="vtt")],
        responses={
            (200, "text/vtt"): OpenApiResponse(OpenApiTypes.STR, description="Cues of a line of speech each"),
            (200, "application/x-subrip"): OpenApiResponse(OpenApiTypes.STR),
        },
    )
    def get(self, request, task_id):
        serializer = self.SubtitlesInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        fmt = serializer.validated_data["format"]
        task = task_get(tenant=request.tenant, task_id=task_id)
        cues = subtitles.cues(task.text, task_words(task=task), duration=task.duration_seconds or 0.0)
        media_type, render = _SUBTITLE_FORMATS[fmt]
        return HttpResponse(
            render(cues).encode("utf-8"),
            content_type=f"{media_type}; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{task.id}.{fmt}"'},
        )
