from django.urls import path

from synthesis.api.speakers import SpeakerAudioApi, SpeakerDetailApi, SpeakerListCreateApi
from synthesis.api.tasks import TaskAudioApi, TaskDetailApi, TaskListCreateApi
from synthesis.api.usage import UsageApi

urlpatterns = [
    path("speakers", SpeakerListCreateApi.as_view(), name="speaker-list"),
    path("speakers/<uuid:speaker_id>", SpeakerDetailApi.as_view(), name="speaker-detail"),
    path("speakers/<uuid:speaker_id>/audio", SpeakerAudioApi.as_view(), name="speaker-audio"),
    path("tasks", TaskListCreateApi.as_view(), name="task-list"),
    path("tasks/<uuid:task_id>", TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/audio", TaskAudioApi.as_view(), name="task-audio"),
    path("usage", UsageApi.as_view(), name="usage"),
]
