"""ASGI entry point: Django for HTTP, the Socket.IO endpoint for /socket.io/ (both transports)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animomeet.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from signaling.wiring import asgi_application  # noqa: E402

application = asgi_application(django_application)
