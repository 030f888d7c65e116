"""ASGI entry point: Django for HTTP, the Socket.IO endpoint for /socket.io/ (both
transports), and in front of both /healthz and /readyz; the process's metrics on a port
of their own (animomeet.metrics)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animomeet.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from animomeet.health import with_health_endpoints  # noqa: E402
from animomeet.metrics import start_exporter  # noqa: E402
from signaling.wiring import asgi_application  # noqa: E402

application = with_health_endpoints(asgi_application(django_application))
start_exporter()
