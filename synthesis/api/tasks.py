from __future__ import annotations

from django.core import signing
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from sovits_site.errors import ApiError
from sovits_site.schema import IDEMPOTENCY_KEY, PAGE_PARAMETERS, audio_responses, paginated
from synthesis import results, storage
from synthesis.api.audio_response import audio_response
from synthesis.api.pagination import paginated_response
from synthesis.languages import AUTO
from synthesis.models import Batch, OutputFormat, Task, TaskStatus
from synthesis.selectors import (
    batch_get,
    batch_status,
    task_get,
    task_list,
    task_require_done,
    webhook_deliveries,
)
from synthesis.services.tasks import SPEED_MAX, SPEED_MIN, batch_create, idempotent, task_cancel, task_create

MAX_TEXT_INPUT = 100_000  # the service checks the real limit; this only bounds parsing


class TaskParamsSerializer(serializers.Serializer):
    speed = serializers.FloatField(
        min_value=SPEED_MIN, max_value=SPEED_MAX, default=1.0, help_text="Speaking rate: what every engine can do"
    )
    # GPT-SoVITS's sampling (the embedded engine has none and ignores them).
    top_k = serializers.IntegerField(min_value=1, max_value=100, required=False, help_text="GPT-SoVITS only")
    top_p = serializers.FloatField(min_value=0.01, max_value=1.0, required=False, help_text="GPT-SoVITS only")
    temperature = serializers.FloatField(min_value=0.01, max_value=2.0, required=False, help_text="GPT-SoVITS only")
    repetition_penalty = serializers.FloatField(
        min_value=1.0, max_value=2.0, required=False, help_text="GPT-SoVITS only"
    )
    seed = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="GPT-SoVITS only: the same seed, the same audio"
    )


def callback_url_field() -> serializers.CharField:
    # A plain string here: the service checks it (scheme, host, addresses), so that every bad
    # callback URL gets INVALID_CALLBACK_URL with its reason, not a generic VALIDATION_ERROR.
    return serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True,
        help_text="http(s) URL that receives the signed webhook; private addresses only where the operator "
        "set WEBHOOK_ALLOW_PRIVATE, cloud metadata addresses never",
    )  # fmt: skip


class TaskRequestSerializer(serializers.Serializer):
    """One synthesis request: a task on its own, or an item of a batch."""

    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT_INPUT)
    speaker_id = serializers.UUIDField()
    # Checked by the service against the engine's languages, for a precise error.
    language = serializers.CharField(max_length=8, default=AUTO)
    output_format = serializers.ChoiceField(choices=OutputFormat.choices, default=OutputFormat.WAV)
    sample_rate = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=10**6)
    params = TaskParamsSerializer(required=False, default=dict)


class TaskOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    progress = serializers.IntegerField()
    speaker_id = serializers.UUIDField()
    batch_id = serializers.UUIDField(allow_null=True)
    text = serializers.CharField()
    characters = serializers.IntegerField()
    language = serializers.CharField()
    priority = serializers.IntegerField()
    params = serializers.JSONField()
    output_format = serializers.CharField()
    sample_rate = serializers.IntegerField(allow_null=True)
    callback_url = serializers.CharField()
    error = serializers.JSONField(allow_null=True)
    result_url = serializers.SerializerMethodField(
        help_text="Signed link to the audio, usable without credentials until it expires (DONE tasks)"
    )
    duration_seconds = serializers.FloatField(allow_null=True)
    similarity = serializers.FloatField(
        allow_null=True,
        help_text=(
            "How much the result sounds like the voice: the cosine between speaker embeddings (Resemblyzer) of the "
            "result and of the reference, -1 to 1. Two recordings of one person score 0.88-0.96; two different "
            "people about 0.6 (at most 0.75 among 151 LibriSpeech pairs); an unadapted synthetic voice about 0.5. "
            "Read 0.85 and up as the same speaker, 0.75-0.85 as likely the same, 0.65-0.75 as a similar voice, "
            "under 0.65 as a different-sounding one. Null until DONE, or when the result is too short to tell."
        ),
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_result_url(self, task: Task) -> str | None:
        if task.status != TaskStatus.DONE:
            return None
        return results.signed_result_url(task, self.context.get("request"))

    def to_representation(self, task: Task) -> dict:
        """The fields above, written out: DRF's generic path copies all twenty field objects for
        every task it renders, a third of the cost of reading one (a test holds the two equal)."""
        return {
            "id": str(task.id),
            "status": task.status,
            "progress": task.progress,
            "speaker_id": str(task.speaker_id),
            "batch_id": str(task.batch_id) if task.batch_id else None,
            "text": task.text,
            "characters": task.characters,
            "language": task.language,
            "priority": task.priority,
            "params": task.params,
            "output_format": task.output_format,
            "sample_rate": task.sample_rate,
            "callback_url": task.callback_url,
            "error": task.error,
            "result_url": self.get_result_url(task),
            "duration_seconds": task.duration_seconds,
            "similarity": task.similarity,
            "created_at": _datetime(task.created_at),
            "started_at": _datetime(task.started_at),
            "finished_at": _datetime(task.finished_at),
        }


def _datetime(value) -> str | None:
    """As DRF's DateTimeField renders it (ISO 8601, UTC as Z)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _accept_once(request, input_serializer, *, endpoint: str, create, load, output) -> Response:
    """Validate, create under the request's Idempotency-Key (a replay returns the first
    resource, marked ``Idempotent-Replayed``), and answer 202 with the resource."""
    serializer = input_serializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    created = []

    def create_once():
        created.append(create(data))
        return created[-1].id

    resource_id, replayed = idempotent(
        tenant=request.tenant,
        key=request.headers.get("Idempotency-Key"),
        endpoint=endpoint,
        body=data,
        create=create_once,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    resource = created[-1] if created and not replayed else load(resource_id)  # a new one is at hand: no reload
    body = output(resource, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


class TaskListCreateApi(APIView):
    scopes = {"POST": "synthesize"}

    class TaskCreateInputSerializer(TaskRequestSerializer):
        priority = serializers.ChoiceField(choices=[0, 1], default=0)
        callback_url = callback_url_field()

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
        speaker_id = serializers.UUIDField(required=False)
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="tasks_list",
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses=paginated("PaginatedTaskList", TaskOutputSerializer),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tasks = task_list(tenant=request.tenant, **filters.validated_data)
        return paginated_response(request, tasks, TaskOutputSerializer, view=self)

    @extend_schema(
        request=TaskCreateInputSerializer, parameters=[IDEMPOTENCY_KEY], responses={202: TaskOutputSerializer}
    )
    def post(self, request):
        return _accept_once(
            request,
            self.TaskCreateInputSerializer,
            endpoint="tasks",
            create=lambda data: task_create(tenant=request.tenant, **data),
            load=lambda task_id: task_get(tenant=request.tenant, task_id=task_id),
            output=TaskOutputSerializer,
        )


class TaskDetailApi(APIView):
    @extend_schema(responses=TaskOutputSerializer)
    def get(self, request, task_id):
        task = task_get(tenant=request.tenant, task_id=task_id)
        return Response(TaskOutputSerializer(task, context={"request": request}).data)


class TaskCancelApi(APIView):
    scopes = {"POST": "synthesize"}

    @extend_schema(request=None, responses=TaskOutputSerializer)
    def post(self, request, task_id):
        task = task_cancel(task=task_get(tenant=request.tenant, task_id=task_id))
        return Response(TaskOutputSerializer(task, context={"request": request}).data)


def _task_audio(request, task: Task):
    task_require_done(task=task)
    return audio_response(
        request,
        storage.get(tenant=task.tenant, object_key=task.result_key),
        content_type=results.MEDIA_TYPES[task.output_format],
        filename=results.download_name(task),
        download=bool(request.GET.get("download")),
    )


class TaskAudioApi(APIView):
    @extend_schema(responses=audio_responses(200, 206))
    def get(self, request, task_id):
        return _task_audio(request, task_get(tenant=request.tenant, task_id=task_id))


class ResultDownloadApi(APIView):
    """The audio behind a signed ``result_url``: the link itself is the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses=audio_responses(200, 206))
    def get(self, request, token):
        try:
            task_id = results.task_id_from_token(token)
        except signing.SignatureExpired as exc:
            raise ApiError("LINK_EXPIRED") from exc
        except signing.BadSignature as exc:
            raise ApiError("NOT_FOUND", "No such result") from exc
        task = Task.objects.select_related("tenant").filter(id=task_id).first()
        if task is None:
            raise ApiError("NOT_FOUND", "No such result")
        return _task_audio(request, task)


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    url = serializers.CharField()
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    succeeded = serializers.BooleanField()
    error = serializers.CharField()
    duration_ms = serializers.IntegerField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class TaskWebhooksApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            name="WebhookDeliveryList",
            fields={"count": serializers.IntegerField(), "results": WebhookDeliverySerializer(many=True)},
        )
    )
    def get(self, request, task_id):
        task = task_get(tenant=request.tenant, task_id=task_id)
        deliveries = webhook_deliveries(task=task)
        return Response({"count": len(deliveries), "results": WebhookDeliverySerializer(deliveries, many=True).data})


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.SerializerMethodField(help_text="PENDING, PROCESSING, DONE, PARTIAL or FAILED")
    progress = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()
    done = serializers.SerializerMethodField()
    failed = serializers.SerializerMethodField()
    priority = serializers.IntegerField()
    callback_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(
        allow_null=True, help_text="When its last item ended (then batch.completed is sent to callback_url)"
    )
    tasks = serializers.SerializerMethodField()

    def _tasks(self, batch: Batch) -> list[Task]:
        if not hasattr(batch, "_loaded_tasks"):
            batch._loaded_tasks = list(batch.tasks.order_by("created_at", "id"))
        return batch._loaded_tasks

    def get_status(self, batch: Batch) -> str:
        return batch_status([t.status for t in self._tasks(batch)])

    def get_progress(self, batch: Batch) -> int:
        tasks = self._tasks(batch)
        finished = (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED)
        return round(sum(100 if t.status in finished else t.progress for t in tasks) / max(1, len(tasks)))

    def get_total(self, batch: Batch) -> int:
        return len(self._tasks(batch))

    def get_done(self, batch: Batch) -> int:
        return sum(t.status == TaskStatus.DONE for t in self._tasks(batch))

    def get_failed(self, batch: Batch) -> int:
        return sum(t.status in (TaskStatus.FAILED, TaskStatus.CANCELLED) for t in self._tasks(batch))

    @extend_schema_field(TaskOutputSerializer(many=True))
    def get_tasks(self, batch: Batch) -> list[dict]:
        return TaskOutputSerializer(self._tasks(batch), many=True, context=self.context).data


class BatchCreateApi(APIView):
    scopes = {"POST": "synthesize"}

    class BatchCreateInputSerializer(serializers.Serializer):
        requests = TaskRequestSerializer(many=True, allow_empty=False)
        priority = serializers.ChoiceField(choices=[0, 1], default=0)
        callback_url = callback_url_field()

        def validate_requests(self, value):
            from django.conf import settings

            if len(value) > settings.MAX_BATCH_REQUESTS:
                raise serializers.ValidationError(f"At most {settings.MAX_BATCH_REQUESTS} requests per batch.")
            return value

    @extend_schema(
        request=BatchCreateInputSerializer, parameters=[IDEMPOTENCY_KEY], responses={202: BatchOutputSerializer}
    )
    def post(self, request):
        return _accept_once(
            request,
            self.BatchCreateInputSerializer,
            endpoint="batches",
            create=lambda data: batch_create(tenant=request.tenant, **data),
            load=lambda batch_id: batch_get(tenant=request.tenant, batch_id=batch_id),
            output=BatchOutputSerializer,
        )


class BatchDetailApi(APIView):
    @extend_schema(responses=BatchOutputSerializer)
    def get(self, request, batch_id):
        batch = batch_get(tenant=request.tenant, batch_id=batch_id)
        return Response(BatchOutputSerializer(batch, context={"request": request}).data)
