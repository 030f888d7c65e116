"""daphne, with the one limit on clients that it lacks: a request must arrive whole (its
request line, headers and body) within HTTP_RECEIVE_TIMEOUT_S, else its connection is
dropped. daphne hands a request to the application only once all of it has arrived and
times out only a connection idle for 60 s, so a client sending a byte now and then would
hold a connection for as long as it likes (slowloris), unseen by the application.

Takes daphne's arguments:

    python -m animomeet.serve -v 0 -b 127.0.0.1 -p 8080 animomeet.asgi:application
"""

import logging

from daphne.cli import CommandLineInterface  # first: it installs Twisted's asyncio reactor
from daphne.http_protocol import WebRequest
from daphne.server import Server
from django.conf import settings
from twisted.internet import reactor

log = logging.getLogger("animomeet.serve")


class ReceiveBoundServer(Server):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read once the application is loaded, and with it the settings (and .env).
        self.receive_timeout = settings.HTTP_RECEIVE_TIMEOUT_S

    def protocol_connected(self, protocol):
        """daphne makes a WebRequest as soon as a request line has arrived."""
        super().protocol_connected(protocol)
        if isinstance(protocol, WebRequest) and self.receive_timeout > 0:
            reactor.callLater(self.receive_timeout, self._drop_if_still_arriving, protocol)

    def _drop_if_still_arriving(self, request: WebRequest) -> None:
        # daphne starts processing (and sets request_start) once the body is complete.
        details = self.connections.get(request)
        if details is None or "disconnected" in details or hasattr(request, "request_start"):
            return
        log.info("dropped a request from %s still arriving after %s s", request.transport.getPeer().host, self.receive_timeout)
        request.transport.abortConnection()


class CommandLine(CommandLineInterface):
    server_class = ReceiveBoundServer


if __name__ == "__main__":
    CommandLine.entrypoint()
