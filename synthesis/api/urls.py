from django.urls import path

from synthesis.api.models import EngineListApi, ModelDetailApi, ModelListApi
from synthesis.api.speakers import SpeakerAudioApi, SpeakerDetailApi, SpeakerListCreateApi
from synthesis.api.streaming import TaskStreamApi, taking_over
from synthesis.api.subject_requests import SubjectExportApi, SubjectRequestDetailApi, SubjectRequestListCreateApi
from synthesis.api.tasks import (
    BatchCreateApi,
    BatchDetailApi,
    ResultDownloadApi,
    TaskAudioApi,
    TaskCancelApi,
    TaskDetailApi,
    TaskListCreateApi,
    TaskWebhooksApi,
)
from synthesis.api.timestamps import TaskSubtitlesApi, TaskTimestampsApi
from synthesis.api.usage import UsageApi
from synthesis.api.webhooks import WebhookSecretApi, WebhookSecretRotateApi

urlpatterns = [
    path("speakers", SpeakerListCreateApi.as_view(), name="speaker-list"),
    path("speakers/<uuid:speaker_id>", SpeakerDetailApi.as_view(), name="speaker-detail"),
    path("speakers/<uuid:speaker_id>/audio", SpeakerAudioApi.as_view(), name="speaker-audio"),
    path("engines", EngineListApi.as_view(), name="engine-list"),
    path("models", ModelListApi.as_view(), name="model-list"),
    path("models/<uuid:model_id>", ModelDetailApi.as_view(), name="model-detail"),
    path("tasks", TaskListCreateApi.as_view(), name="task-list"),
    path("tasks/<uuid:task_id>", TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/audio", TaskAudioApi.as_view(), name="task-audio"),
    path("tasks/<uuid:task_id>/cancel", TaskCancelApi.as_view(), name="task-cancel"),
    path("tasks/<uuid:task_id>/webhooks", TaskWebhooksApi.as_view(), name="task-webhooks"),
    path("tasks/<uuid:task_id>/stream", taking_over(TaskStreamApi), name="task-stream"),
    path("tasks/<uuid:task_id>/timestamps", TaskTimestampsApi.as_view(), name="task-timestamps"),
    path("tasks/<uuid:task_id>/subtitles", TaskSubtitlesApi.as_view(), name="task-subtitles"),
    path("batches", BatchCreateApi.as_view(), name="batch-list"),
    path("batches/<uuid:batch_id>", BatchDetailApi.as_view(), name="batch-detail"),
    path("results/<str:token>", ResultDownloadApi.as_view(), name="result-download"),
    path("usage", UsageApi.as_view(), name="usage"),
    path("privacy/requests", SubjectRequestListCreateApi.as_view(), name="subject-request-list"),
    path("privacy/requests/<uuid:request_id>", SubjectRequestDetailApi.as_view(), name="subject-request-detail"),
    path("privacy/exports/<str:token>", SubjectExportApi.as_view(), name="subject-export"),
    path("webhooks/secret", WebhookSecretApi.as_view(), name="webhook-secret"),
    path("webhooks/secret/rotate", WebhookSecretRotateApi.as_view(), name="webhook-secret-rotate"),
]
