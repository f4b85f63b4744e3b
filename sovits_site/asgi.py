"""ASGI entry point, served by daphne. In the standard deployment daphne only
receives ``/ws/`` (WebSockets); plain HTTP goes to gunicorn's WSGI workers,
which use every core. Both paths work here all the same."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sovits_site.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([]),
    }
)
