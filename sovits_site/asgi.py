"""ASGI entry point, served by uvicorn. In the standard deployment it receives
``/ws/`` (WebSockets), audio streams and the compatible endpoints that wait for
a task; the rest of HTTP goes to gunicorn's WSGI workers, which use every core.
Both work here all the same. (uvicorn, not daphne: a response that fails after
its start must end without its last chunk, and daphne appends a 500 page.)"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sovits_site.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from django.urls import path  # noqa: E402

from sovits_site.websocket_auth import websocket_auth_stack  # noqa: E402
from synthesis.consumers import TaskConsumer, TenantTasksConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/tasks/", TenantTasksConsumer.as_asgi()),
    path("ws/tasks/<uuid:task_id>/", TaskConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_auth_stack(URLRouter(websocket_urlpatterns)),
    }
)
