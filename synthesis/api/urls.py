from django.urls import path

from synthesis.api.speakers import SpeakerDetailApi, SpeakerListCreateApi
from synthesis.api.tasks import TaskAudioApi, TaskDetailApi, TaskListCreateApi

urlpatterns = [
    path("speakers", SpeakerListCreateApi.as_view(), name="speaker-list"),
    path("speakers/<uuid:speaker_id>", SpeakerDetailApi.as_view(), name="speaker-detail"),
    path("tasks", TaskListCreateApi.as_view(), name="task-list"),
    path("tasks/<uuid:task_id>", TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/audio", TaskAudioApi.as_view(), name="task-audio"),
]
