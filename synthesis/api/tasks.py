from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import ApiError
from synthesis import storage
from synthesis.api.pagination import paginated_response
from synthesis.languages import AUTO
from synthesis.models import Task, TaskStatus
from synthesis.selectors import task_get, task_list
from synthesis.services.tasks import task_create


class TaskParamsSerializer(serializers.Serializer):
    speed = serializers.FloatField(min_value=0.5, max_value=2.0, default=1.0)


class TaskOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    speaker_id = serializers.UUIDField()
    text = serializers.CharField()
    characters = serializers.IntegerField()
    language = serializers.CharField()
    priority = serializers.IntegerField()
    params = serializers.JSONField()
    callback_url = serializers.CharField()
    error = serializers.JSONField()
    result_url = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField()
    similarity = serializers.FloatField(
        help_text="Cosine between speaker embeddings of the result and of the reference voice (DONE tasks)"
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()

    def get_result_url(self, task: Task) -> str | None:
        if task.status != TaskStatus.DONE:
            return None
        path = reverse("task-audio", kwargs={"task_id": task.id})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class TaskListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(allow_blank=True, trim_whitespace=False)
        speaker_id = serializers.UUIDField()
        # Checked by the service against the engine's languages, for a precise error.
        language = serializers.CharField(max_length=8, default=AUTO)
        priority = serializers.ChoiceField(choices=[0, 1], default=0)
        callback_url = serializers.URLField(max_length=2000, required=False, default="", allow_blank=True)
        params = TaskParamsSerializer(required=False, default=dict)

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
        speaker_id = serializers.UUIDField(required=False)

    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tasks = task_list(tenant=request.tenant, **filters.validated_data)
        return paginated_response(request, tasks, TaskOutputSerializer, view=self)

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = task_create(tenant=request.tenant, **serializer.validated_data)
        return Response(TaskOutputSerializer(task, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class TaskDetailApi(APIView):
    def get(self, request, task_id):
        task = task_get(tenant=request.tenant, task_id=task_id)
        return Response(TaskOutputSerializer(task, context={"request": request}).data)


class TaskAudioApi(APIView):
    def get(self, request, task_id):
        task = task_get(tenant=request.tenant, task_id=task_id)
        if task.status == TaskStatus.FAILED:
            raise ApiError("TASK_FAILED", details={"task_id": str(task.id), "error": task.error})
        if task.status != TaskStatus.DONE:
            raise ApiError(
                "TASK_NOT_DONE", f"The task is {task.status}", details={"task_id": str(task.id), "status": task.status}
            )
        data = storage.get(tenant=task.tenant, object_key=task.result_key)
        response = HttpResponse(data, content_type="audio/wav")
        disposition = "attachment" if request.query_params.get("download") else "inline"
        response["Content-Disposition"] = f'{disposition}; filename="{task.id}.wav"'
        response["Cache-Control"] = "private, max-age=3600"
        return response
